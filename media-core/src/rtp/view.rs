//! Zero-copy RTP header view (RFC 3550 §5.1) with RFC 8285 header-extension iteration, and
//! its in-place rewriting twin [`RtpViewMut`].
//!
//! Parsing validates every length once; afterwards accessors are plain loads at known
//! offsets, which is why the views keep the computed layout instead of re-deriving it.

use std::ops::Range;

use super::RtpError;

/// Fixed RTP header size (RFC 3550 §5.1).
pub const RTP_HEADER_LEN: usize = 12;
/// RFC 8285 §4.2 one-byte header profile.
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// RFC 8285 §4.3 two-byte header profile (low 4 bits are "appbits").
pub const TWO_BYTE_PROFILE_MASK: u16 = 0xFFF0;
pub const TWO_BYTE_PROFILE: u16 = 0x1000;

/// Header layout computed once by `try_parse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// Start and length of the extension data (after the 4-byte extension header).
    ext: Option<(u16, usize, usize)>,
    /// First payload byte.
    payload_start: usize,
    /// One past the last payload byte (padding excluded).
    payload_end: usize,
}

fn layout(data: &[u8]) -> Result<Layout, RtpError> {
    if data.len() < RTP_HEADER_LEN {
        return Err(RtpError::TooShort);
    }
    let version = data[0] >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    let cc = usize::from(data[0] & 0x0f);
    let mut off = RTP_HEADER_LEN + 4 * cc;
    if data.len() < off {
        return Err(RtpError::TooShort);
    }
    let mut ext = None;
    if data[0] & 0x10 != 0 {
        // RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words.
        let hdr = data.get(off..off + 4).ok_or(RtpError::TooShort)?;
        let profile = u16::from_be_bytes([hdr[0], hdr[1]]);
        let len = 4 * usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        off += 4;
        if data.len() < off + len {
            return Err(RtpError::TooShort);
        }
        ext = Some((profile, off, len));
        off += len;
    }
    let mut end = data.len();
    if data[0] & 0x20 != 0 {
        // RFC 3550 §5.1: the last octet counts the padding octets, itself included.
        let pad = usize::from(data[end - 1]);
        if pad == 0 || end - off < pad {
            return Err(RtpError::BadPadding);
        }
        end -= pad;
    }
    Ok(Layout {
        ext,
        payload_start: off,
        payload_end: end,
    })
}

/// A borrowed, validated RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpView<'a> {
    data: &'a [u8],
    layout: Layout,
}

impl<'a> RtpView<'a> {
    /// Validates version, CSRC count, extension and padding lengths. Never allocates.
    pub fn try_parse(data: &'a [u8]) -> Result<Self, RtpError> {
        Ok(RtpView {
            data,
            layout: layout(data)?,
        })
    }

    /// The whole packet.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    pub fn padding(&self) -> bool {
        self.data[0] & 0x20 != 0
    }

    pub fn has_extension(&self) -> bool {
        self.data[0] & 0x10 != 0
    }

    pub fn csrc_count(&self) -> u8 {
        self.data[0] & 0x0f
    }

    pub fn marker(&self) -> bool {
        self.data[1] & 0x80 != 0
    }

    pub fn payload_type(&self) -> u8 {
        self.data[1] & 0x7f
    }

    pub fn sequence_number(&self) -> u16 {
        u16::from_be_bytes([self.data[2], self.data[3]])
    }

    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.data[4], self.data[5], self.data[6], self.data[7]])
    }

    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.data[8], self.data[9], self.data[10], self.data[11]])
    }

    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let n = usize::from(self.csrc_count());
        self.data[RTP_HEADER_LEN..RTP_HEADER_LEN + 4 * n]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// Header length including CSRCs and the extension block.
    pub fn header_len(&self) -> usize {
        self.layout.payload_start
    }

    /// Payload without padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.data[self.payload_range()]
    }

    pub fn payload_range(&self) -> Range<usize> {
        self.layout.payload_start..self.layout.payload_end
    }

    /// Padding octets (0 without the P bit).
    pub fn padding_len(&self) -> usize {
        self.data.len() - self.layout.payload_end
    }

    /// The extension block's profile (0xBEDE, 0x100x, or anything else).
    pub fn extension_profile(&self) -> Option<u16> {
        self.layout.ext.map(|(p, _, _)| p)
    }

    /// The raw extension block (after its 4-byte header).
    pub fn extension_data(&self) -> Option<&'a [u8]> {
        self.layout.ext.map(|(_, s, l)| &self.data[s..s + l])
    }

    /// RFC 8285 elements; empty for other profiles.
    pub fn extensions(&self) -> Extensions<'a> {
        match self.layout.ext {
            Some((profile, start, len)) => Extensions::new(self.data, profile, start, len),
            None => Extensions::empty(),
        }
    }

    /// The value of extension element `id`, if present.
    pub fn extension(&self, id: u8) -> Option<&'a [u8]> {
        self.extensions().find(|e| e.id == id).map(|e| e.value)
    }
}

/// One RFC 8285 extension element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionElement<'a> {
    pub id: u8,
    pub value: &'a [u8],
    /// Offset of `value` in the packet (for in-place rewriting).
    pub offset: usize,
}

/// Iterator over RFC 8285 one-byte or two-byte extension elements.
#[derive(Debug, Clone)]
pub struct Extensions<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
    two_byte: bool,
}

impl<'a> Extensions<'a> {
    fn new(data: &'a [u8], profile: u16, start: usize, len: usize) -> Self {
        let (one, two) = (
            profile == ONE_BYTE_PROFILE,
            profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE,
        );
        if !one && !two {
            return Self::empty();
        }
        Extensions {
            data,
            pos: start,
            end: start + len,
            two_byte: two,
        }
    }

    fn empty() -> Self {
        Extensions {
            data: &[],
            pos: 0,
            end: 0,
            two_byte: false,
        }
    }
}

impl<'a> Iterator for Extensions<'a> {
    type Item = ExtensionElement<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.pos < self.end {
            let b = self.data[self.pos];
            if b == 0 {
                // RFC 8285 §4.2/§4.3: padding octet between elements.
                self.pos += 1;
                continue;
            }
            let (id, len, hdr) = if self.two_byte {
                let len = usize::from(
                    *self
                        .data
                        .get(self.pos + 1)
                        .filter(|_| self.pos + 1 < self.end)?,
                );
                (b, len, 2)
            } else {
                let id = b >> 4;
                if id == 15 {
                    // RFC 8285 §4.2: ID 15 is reserved; stop processing the block.
                    self.pos = self.end;
                    return None;
                }
                (id, usize::from(b & 0x0f) + 1, 1)
            };
            let start = self.pos + hdr;
            if start + len > self.end {
                self.pos = self.end;
                return None;
            }
            self.pos = start + len;
            return Some(ExtensionElement {
                id,
                value: &self.data[start..start + len],
                offset: start,
            });
        }
        None
    }
}

/// A validated RTP packet that can be rewritten in place (header fields, extension values,
/// payload bytes). Setting fields never changes the packet length.
#[derive(Debug)]
pub struct RtpViewMut<'a> {
    data: &'a mut [u8],
    layout: Layout,
}

impl<'a> RtpViewMut<'a> {
    pub fn try_parse(data: &'a mut [u8]) -> Result<Self, RtpError> {
        let layout = layout(data)?;
        Ok(RtpViewMut { data, layout })
    }

    /// A read-only view of the current bytes.
    pub fn view(&self) -> RtpView<'_> {
        RtpView {
            data: self.data,
            layout: self.layout,
        }
    }

    pub fn set_marker(&mut self, marker: bool) {
        self.data[1] = (self.data[1] & 0x7f) | if marker { 0x80 } else { 0 };
    }

    /// Only the low 7 bits are used.
    pub fn set_payload_type(&mut self, pt: u8) {
        self.data[1] = (self.data[1] & 0x80) | (pt & 0x7f);
    }

    pub fn set_sequence_number(&mut self, seq: u16) {
        self.data[2..4].copy_from_slice(&seq.to_be_bytes());
    }

    pub fn set_timestamp(&mut self, ts: u32) {
        self.data[4..8].copy_from_slice(&ts.to_be_bytes());
    }

    pub fn set_ssrc(&mut self, ssrc: u32) {
        self.data[8..12].copy_from_slice(&ssrc.to_be_bytes());
    }

    /// Overwrites the value of extension `id`; `value` must have the element's length.
    pub fn set_extension(&mut self, id: u8, value: &[u8]) -> Result<(), RtpError> {
        let (offset, len) = {
            let e = self
                .view()
                .extensions()
                .find(|e| e.id == id)
                .ok_or(RtpError::NoSuchExtension(id))?;
            (e.offset, e.value.len())
        };
        if len != value.len() {
            return Err(RtpError::ExtensionLength {
                id,
                have: len,
                want: value.len(),
            });
        }
        self.data[offset..offset + len].copy_from_slice(value);
        Ok(())
    }

    /// Mutable access to the extension value (same length constraints as the packet).
    pub fn extension_mut(&mut self, id: u8) -> Option<&mut [u8]> {
        let (offset, len) = self
            .view()
            .extensions()
            .find(|e| e.id == id)
            .map(|e| (e.offset, e.value.len()))?;
        self.data.get_mut(offset..offset + len)
    }

    /// The payload (padding excluded), writable: codec descriptors are rewritten here.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.layout.payload_start..self.layout.payload_end]
    }
}
