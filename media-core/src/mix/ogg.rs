//! Reading the Opus packets of an Ogg Opus file (RFC 7845) for `play_file`.
//!
//! Only what playback needs: the pages of the first logical stream (RFC 3533 §6), packets
//! reassembled from their lacing values, the `OpusHead`/`OpusTags` headers checked and
//! skipped. CRCs are not verified (a corrupt packet only fails to decode). Files are read
//! whole on the blocking pool, never on the mixing task.

use std::path::Path;

use bytes::Bytes;

/// Largest file accepted (a few hours of speech).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OggError {
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("file larger than {MAX_FILE_BYTES} bytes")]
    TooLarge,
    #[error("not an Ogg file")]
    NotOgg,
    #[error("not an Ogg Opus stream")]
    NotOpus,
    #[error("truncated Ogg page")]
    Truncated,
    #[error("no audio packets")]
    Empty,
}

/// Reads the Opus audio packets of `path`.
pub fn read_opus_file(path: &Path) -> Result<Vec<Bytes>, OggError> {
    if std::fs::metadata(path)?.len() > MAX_FILE_BYTES {
        return Err(OggError::TooLarge);
    }
    opus_packets(&std::fs::read(path)?)
}

/// The Opus audio packets of an Ogg Opus file held in memory.
pub fn opus_packets(data: &[u8]) -> Result<Vec<Bytes>, OggError> {
    let mut packets = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut serial = None;
    let mut pos = 0;
    let mut index = 0usize;
    while pos < data.len() {
        let page = data.get(pos..).ok_or(OggError::Truncated)?;
        if page.len() < 27 {
            return Err(OggError::Truncated);
        }
        if &page[..4] != b"OggS" || page[4] != 0 {
            return Err(OggError::NotOgg);
        }
        let page_serial = u32::from_le_bytes([page[14], page[15], page[16], page[17]]);
        let nsegs = usize::from(page[26]);
        let lacing = page.get(27..27 + nsegs).ok_or(OggError::Truncated)?;
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let body = page
            .get(27 + nsegs..27 + nsegs + body_len)
            .ok_or(OggError::Truncated)?;
        pos += 27 + nsegs + body_len;
        let serial = *serial.get_or_insert(page_serial);
        if page_serial != serial {
            continue;
        }
        let mut off = 0;
        for &l in lacing {
            let l = usize::from(l);
            partial.extend_from_slice(&body[off..off + l]);
            off += l;
            if l < 255 {
                match index {
                    0 if !partial.starts_with(b"OpusHead") => return Err(OggError::NotOpus),
                    1 if !partial.starts_with(b"OpusTags") => return Err(OggError::NotOpus),
                    0 | 1 => {}
                    _ if !partial.is_empty() => packets.push(Bytes::copy_from_slice(&partial)),
                    _ => {}
                }
                index += 1;
                partial.clear();
            }
        }
    }
    if index == 0 {
        return Err(OggError::NotOgg);
    }
    if packets.is_empty() {
        return Err(OggError::Empty);
    }
    Ok(packets)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// Builds a minimal Ogg Opus stream: one page per packet (CRC left zero).
    pub(crate) fn ogg_file(audio: &[Vec<u8>]) -> Vec<u8> {
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 1, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        let tags = b"OpusTags\0\0\0\0\0\0\0\0".to_vec();
        let mut out = Vec::new();
        let all = [vec![head, tags], audio.to_vec()].concat();
        for (i, p) in all.iter().enumerate() {
            let mut lacing = vec![255u8; p.len() / 255];
            lacing.push((p.len() % 255) as u8);
            out.extend_from_slice(b"OggS");
            out.push(0);
            out.push(if i == 0 { 2 } else { 0 });
            out.extend_from_slice(&(i as u64).to_le_bytes());
            out.extend_from_slice(&7u32.to_le_bytes());
            out.extend_from_slice(&(i as u32).to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            out.push(lacing.len() as u8);
            out.extend_from_slice(&lacing);
            out.extend_from_slice(p);
        }
        out
    }

    #[test]
    fn reads_packets_across_lacing() {
        let long = vec![7u8; 600];
        let file = ogg_file(&[vec![1, 2, 3], long.clone(), vec![9]]);
        let packets = opus_packets(&file).unwrap();
        assert_eq!(packets.len(), 3);
        assert_eq!(&packets[0][..], &[1, 2, 3]);
        assert_eq!(&packets[1][..], &long[..]);
        assert_eq!(&packets[2][..], &[9]);
    }

    #[test]
    fn rejects_non_opus_and_truncated() {
        assert!(matches!(
            opus_packets(b"RIFF...."),
            Err(OggError::Truncated)
        ));
        let mut file = ogg_file(&[vec![1]]);
        file[27 + 1] = b'X'; // corrupt "OpusHead"
        assert!(matches!(opus_packets(&file), Err(OggError::NotOpus)));
        let file = ogg_file(&[vec![1, 2, 3]]);
        assert!(matches!(
            opus_packets(&file[..file.len() - 1]),
            Err(OggError::Truncated)
        ));
    }
}
