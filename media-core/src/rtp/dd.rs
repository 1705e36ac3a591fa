//! The dependency descriptor RTP header extension (AV1 RTP payload format, Appendix A): what
//! a forwarder needs to drop AV1 (or any codec's) spatial and temporal layers on one SSRC.
//!
//! ```text
//! mandatory (3 bytes):  start_of_frame(1) end_of_frame(1) template_id(6) frame_number(16)
//! extended (if > 3 bytes):
//!   structure_present(1) active_decode_targets_present(1) custom_dtis(1) custom_fdiffs(1)
//!   custom_chains(1)
//!   template_dependency_structure      (if structure_present, §A.8.3.1)
//!   active_decode_targets_bitmask(DtCnt) (if active_decode_targets_present)
//! frame_dependency_definition: custom DTIs (2 bits per decode target), custom fdiffs
//!   (2-bit size + 4/8/12-bit values), custom chain fdiffs (8 bits per chain) — each only
//!   when its flag is set, else taken from the template
//! zero padding to the element's length
//! ```
//!
//! A descriptor names a *template* of the *template dependency structure*, which only the
//! packets of key frames (and structure changes) carry. So parsing is stateful: a
//! [`DdReader`] per published stream keeps the last structure and the active decode targets
//! (§A.4: "valid until the next update"), and maps later packets' template ids to spatial
//! and temporal ids, decode target indications (DTIs) and references.
//!
//! Everything is fixed-size: the structure is bounded by the spec (64 templates, 32 decode
//! targets, 4 spatial and 8 temporal ids) and lives in boxes the reader allocates once (its
//! first structure); parsing a packet allocates nothing. Frame diffs per template or frame
//! are not bounded by the syntax; [`MAX_FDIFFS`] caps them (libwebrtc's encoders use at most
//! 3) and more is a [`DdError`], as is any truncation or reference to an unknown template.

/// Templates a structure may hold (template ids are 6 bits).
pub const MAX_TEMPLATES: usize = 64;
/// Decode targets (`dt_cnt_minus_one` is 5 bits).
pub const MAX_DECODE_TARGETS: usize = 32;
/// Chains cannot outnumber decode targets (`chain_cnt = ns(DtCnt + 1)`).
pub const MAX_CHAINS: usize = MAX_DECODE_TARGETS;
/// Spatial ids a structure may describe (§A.8.3.1: `MaxSpatialId` < 4; also the number of
/// render resolutions).
pub const MAX_SPATIAL_IDS: usize = 4;
/// Temporal ids (§A.8.3.1: `MaxTemporalId` < 8).
pub const MAX_TEMPORAL_IDS: usize = 8;
/// Frame diffs kept per template or frame. The syntax allows more; real encoders use ≤ 3.
pub const MAX_FDIFFS: usize = 8;

/// Why a dependency descriptor cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DdError {
    #[error("dependency descriptor truncated")]
    Truncated,
    /// The descriptor needs a template structure and none has been received (its key frame
    /// was lost, or the stream was joined mid-way).
    #[error("no template dependency structure received yet")]
    NoStructure,
    #[error("template id {0} is not in the structure")]
    UnknownTemplate(u8),
    #[error("more than {MAX_TEMPLATES} templates")]
    TooManyTemplates,
    #[error("more than {MAX_SPATIAL_IDS} spatial or {MAX_TEMPORAL_IDS} temporal ids")]
    TooManyLayers,
    #[error("more than {MAX_FDIFFS} frame diffs")]
    TooManyFdiffs,
}

/// Decode target indication (§A.8.3.3, table A.1): how a frame matters to a decode target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dti {
    /// `-`: not part of the decode target.
    NotPresent,
    /// `D`: no later frame of the decode target depends on it.
    Discardable,
    /// `S`: a decoder may start (switch to) the decode target at this frame: no later frame
    /// of the target depends on a frame before it.
    Switch,
    /// `R`: needed by later frames of the decode target.
    Required,
}

impl Dti {
    fn from_bits(b: u64) -> Dti {
        match b & 3 {
            0 => Dti::NotPresent,
            1 => Dti::Discardable,
            2 => Dti::Switch,
            _ => Dti::Required,
        }
    }
}

/// DTIs of all decode targets, 2 bits each (decode target `i` at bits `2i..2i+2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dtis(u64);

impl Dtis {
    pub fn get(&self, dt: usize) -> Dti {
        if dt >= MAX_DECODE_TARGETS {
            return Dti::NotPresent;
        }
        Dti::from_bits(self.0 >> (2 * dt))
    }

    fn set(&mut self, dt: usize, bits: u32) {
        if dt < MAX_DECODE_TARGETS {
            self.0 |= u64::from(bits & 3) << (2 * dt);
        }
    }
}

/// One frame dependency template (§A.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub spatial_id: u8,
    pub temporal_id: u8,
    pub dtis: Dtis,
    fdiffs: [u8; MAX_FDIFFS],
    fdiff_count: u8,
    chain_fdiffs: [u8; MAX_CHAINS],
}

impl Template {
    const EMPTY: Template = Template {
        spatial_id: 0,
        temporal_id: 0,
        dtis: Dtis(0),
        fdiffs: [0; MAX_FDIFFS],
        fdiff_count: 0,
        chain_fdiffs: [0; MAX_CHAINS],
    };

    /// Frame number differences to the frames this template's frames reference.
    pub fn fdiffs(&self) -> &[u8] {
        &self.fdiffs[..usize::from(self.fdiff_count)]
    }
}

/// The template dependency structure (§A.8.3.1) a key frame carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Structure {
    pub template_id_offset: u8,
    decode_targets: u8,
    template_count: u8,
    templates: [Template; MAX_TEMPLATES],
    chain_count: u8,
    /// Chain protecting each decode target.
    protected_by: [u8; MAX_DECODE_TARGETS],
    /// (spatial, temporal) id of each decode target: the highest of its templates.
    dt_layers: [(u8, u8); MAX_DECODE_TARGETS],
    max_spatial_id: u8,
    max_temporal_id: u8,
    /// `max_render_width_minus_1 + 1`, `..height..` per spatial id, when present.
    resolutions: Option<[(u32, u32); MAX_SPATIAL_IDS]>,
}

impl Structure {
    const EMPTY: Structure = Structure {
        template_id_offset: 0,
        decode_targets: 0,
        template_count: 0,
        templates: [Template::EMPTY; MAX_TEMPLATES],
        chain_count: 0,
        protected_by: [0; MAX_DECODE_TARGETS],
        dt_layers: [(0, 0); MAX_DECODE_TARGETS],
        max_spatial_id: 0,
        max_temporal_id: 0,
        resolutions: None,
    };

    pub fn decode_target_count(&self) -> usize {
        usize::from(self.decode_targets)
    }

    pub fn templates(&self) -> &[Template] {
        &self.templates[..usize::from(self.template_count)]
    }

    pub fn chain_count(&self) -> usize {
        usize::from(self.chain_count)
    }

    /// The chain protecting decode target `dt` (when there are chains).
    pub fn protected_by(&self, dt: usize) -> Option<u8> {
        (self.chain_count > 0 && dt < self.decode_target_count()).then(|| self.protected_by[dt])
    }

    /// (spatial id, temporal id) of decode target `dt` (§A.8.3.1 `decode_target_layers`).
    pub fn decode_target_layers(&self, dt: usize) -> Option<(u8, u8)> {
        (dt < self.decode_target_count()).then(|| self.dt_layers[dt])
    }

    pub fn max_spatial_id(&self) -> u8 {
        self.max_spatial_id
    }

    pub fn max_temporal_id(&self) -> u8 {
        self.max_temporal_id
    }

    /// Render resolution (width, height) of spatial layer `sid`, when the structure has them.
    pub fn resolution(&self, sid: u8) -> Option<(u32, u32)> {
        self.resolutions?.get(usize::from(sid)).copied()
    }

    /// The decode target to follow for a subscriber wanting at most `spatial`/`temporal`:
    /// the one with the highest layers not above them (spatial first); with none that low,
    /// the lowest one.
    pub fn decode_target_for(&self, spatial: u8, temporal: u8) -> Option<usize> {
        let dts = &self.dt_layers[..self.decode_target_count()];
        dts.iter()
            .enumerate()
            .filter(|(_, &(s, t))| s <= spatial && t <= temporal)
            .max_by_key(|(i, &(s, t))| (s, t, usize::MAX - i))
            .or_else(|| dts.iter().enumerate().min_by_key(|(_, &(s, t))| (s, t)))
            .map(|(i, _)| i)
    }
}

/// What one packet's descriptor says about its frame, resolved against the structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDescriptor {
    pub start_of_frame: bool,
    pub end_of_frame: bool,
    pub template_id: u8,
    pub frame_number: u16,
    /// The packet carried a (new) template dependency structure.
    pub structure_attached: bool,
    /// The active decode targets in force after this packet (bit per decode target).
    pub active_decode_targets: u32,
    /// The packet carried an active decode targets bitmask.
    pub active_decode_targets_present: bool,
    pub spatial_id: u8,
    pub temporal_id: u8,
    pub dtis: Dtis,
    fdiffs: [u16; MAX_FDIFFS],
    fdiff_count: u8,
    chain_fdiffs: [u8; MAX_CHAINS],
    chain_count: u8,
}

impl FrameDescriptor {
    /// Frame number differences to the frames this one references.
    pub fn fdiffs(&self) -> &[u16] {
        &self.fdiffs[..usize::from(self.fdiff_count)]
    }

    /// Frame number difference to the previous frame of each chain (0 = none).
    pub fn chain_fdiffs(&self) -> &[u8] {
        &self.chain_fdiffs[..usize::from(self.chain_count)]
    }

    /// Decode targets for which this frame is a switch point (bit per decode target).
    pub fn switch_mask(&self) -> u32 {
        (0..MAX_DECODE_TARGETS)
            .filter(|&dt| self.dtis.get(dt) == Dti::Switch)
            .fold(0, |m, dt| m | (1 << dt))
    }
}

/// MSB-first bit reader over a byte slice (the descriptor's `f(n)`).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, pos: 0 }
    }

    /// `f(n)`, n ≤ 32.
    fn f(&mut self, n: u32) -> Result<u32, DdError> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8).ok_or(DdError::Truncated)?;
            let bit = (byte >> (7 - (self.pos % 8))) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Ok(v)
    }

    fn flag(&mut self) -> Result<bool, DdError> {
        Ok(self.f(1)? == 1)
    }

    /// `ns(n)` (§A.8.1): a value in `0..n` in non-symmetric unsigned encoding.
    fn ns(&mut self, n: u32) -> Result<u32, DdError> {
        if n <= 1 {
            return Ok(0);
        }
        let w = 32 - n.leading_zeros();
        let m = (1u32 << w) - n;
        let v = self.f(w - 1)?;
        if v < m {
            return Ok(v);
        }
        let extra = self.f(1)?;
        Ok((v << 1) - m + extra)
    }
}

/// Per-stream descriptor state: the last template structure and active decode targets.
#[derive(Debug, Default)]
pub struct DdReader {
    structure: Option<Box<Structure>>,
    /// Where a new structure is parsed before it replaces `structure` (kept, so a key frame
    /// costs no allocation after the first).
    spare: Option<Box<Structure>>,
    active: u32,
}

impl DdReader {
    pub fn new() -> Self {
        DdReader::default()
    }

    /// The structure in force (the last one received).
    pub fn structure(&self) -> Option<&Structure> {
        self.structure.as_deref()
    }

    /// Active decode targets (bit per decode target) after the last packet.
    pub fn active_decode_targets(&self) -> u32 {
        self.active
    }

    /// Parses one packet's descriptor (in RTP sequence order, §A.4). A structure it carries
    /// replaces the stored one only if the whole descriptor parses.
    pub fn parse(&mut self, data: &[u8]) -> Result<FrameDescriptor, DdError> {
        let mut b = Bits::new(data);
        let start_of_frame = b.flag()?;
        let end_of_frame = b.flag()?;
        let template_id = b.f(6)? as u8;
        let frame_number = b.f(16)? as u16;
        let (mut structure_present, mut adt_present) = (false, false);
        let (mut custom_dtis, mut custom_fdiffs, mut custom_chains) = (false, false, false);
        if data.len() > 3 {
            structure_present = b.flag()?;
            adt_present = b.flag()?;
            custom_dtis = b.flag()?;
            custom_fdiffs = b.flag()?;
            custom_chains = b.flag()?;
        }
        if structure_present {
            let spare = self.spare.get_or_insert_with(|| Box::new(Structure::EMPTY));
            read_structure(&mut b, spare)?;
        }
        let st: &Structure = if structure_present {
            self.spare.as_deref().ok_or(DdError::NoStructure)?
        } else {
            self.structure.as_deref().ok_or(DdError::NoStructure)?
        };
        let dt_count = st.decode_targets;
        let all = all_targets(dt_count);
        let mut active = if structure_present { all } else { self.active };
        if adt_present {
            active = b.f(u32::from(dt_count))? & all;
        }
        let index = (usize::from(template_id) + MAX_TEMPLATES - usize::from(st.template_id_offset))
            % MAX_TEMPLATES;
        let t = st
            .templates()
            .get(index)
            .ok_or(DdError::UnknownTemplate(template_id))?;
        let mut fd = FrameDescriptor {
            start_of_frame,
            end_of_frame,
            template_id,
            frame_number,
            structure_attached: structure_present,
            active_decode_targets: active,
            active_decode_targets_present: adt_present,
            spatial_id: t.spatial_id,
            temporal_id: t.temporal_id,
            dtis: t.dtis,
            fdiffs: [0; MAX_FDIFFS],
            fdiff_count: 0,
            chain_fdiffs: t.chain_fdiffs,
            chain_count: st.chain_count,
        };
        if custom_dtis {
            fd.dtis = Dtis(0);
            for dt in 0..usize::from(dt_count) {
                let v = b.f(2)?;
                fd.dtis.set(dt, v);
            }
        }
        if custom_fdiffs {
            loop {
                let size = b.f(2)?;
                if size == 0 {
                    break;
                }
                let v = b.f(4 * size)? + 1;
                let i = usize::from(fd.fdiff_count);
                *fd.fdiffs.get_mut(i).ok_or(DdError::TooManyFdiffs)? = v as u16;
                fd.fdiff_count += 1;
            }
        } else {
            for (i, d) in t.fdiffs().iter().enumerate() {
                fd.fdiffs[i] = u16::from(*d);
            }
            fd.fdiff_count = t.fdiff_count;
        }
        if custom_chains {
            for c in 0..usize::from(st.chain_count) {
                fd.chain_fdiffs[c] = b.f(8)? as u8;
            }
        }
        // Trailing bits are zero padding (not checked: nothing depends on them).
        if structure_present {
            std::mem::swap(&mut self.structure, &mut self.spare);
        }
        self.active = active;
        Ok(fd)
    }
}

fn all_targets(n: u8) -> u32 {
    if usize::from(n) >= MAX_DECODE_TARGETS {
        u32::MAX
    } else {
        (1u32 << n) - 1
    }
}

/// `template_dependency_structure()` (§A.8.3.1) into `st`, overwriting it.
fn read_structure(b: &mut Bits<'_>, st: &mut Structure) -> Result<(), DdError> {
    st.template_id_offset = b.f(6)? as u8;
    let dt_count = b.f(5)? as usize + 1;
    st.decode_targets = dt_count as u8;
    // template_layers()
    let (mut sid, mut tid, mut max_tid) = (0usize, 0usize, 0usize);
    let mut count = 0usize;
    loop {
        let t = st
            .templates
            .get_mut(count)
            .ok_or(DdError::TooManyTemplates)?;
        *t = Template::EMPTY;
        t.spatial_id = sid as u8;
        t.temporal_id = tid as u8;
        count += 1;
        match b.f(2)? {
            0 => {}
            1 => {
                tid += 1;
                max_tid = max_tid.max(tid);
            }
            2 => {
                tid = 0;
                sid += 1;
            }
            _ => break,
        }
        if sid >= MAX_SPATIAL_IDS || tid >= MAX_TEMPORAL_IDS {
            return Err(DdError::TooManyLayers);
        }
    }
    st.template_count = count as u8;
    st.max_spatial_id = sid as u8;
    st.max_temporal_id = max_tid as u8;
    // template_dtis()
    for t in &mut st.templates[..count] {
        for dt in 0..dt_count {
            let v = b.f(2)?;
            t.dtis.set(dt, v);
        }
    }
    // template_fdiffs()
    for t in &mut st.templates[..count] {
        while b.flag()? {
            let v = b.f(4)? as u8 + 1;
            let i = usize::from(t.fdiff_count);
            *t.fdiffs.get_mut(i).ok_or(DdError::TooManyFdiffs)? = v;
            t.fdiff_count += 1;
        }
    }
    // template_chains()
    let chains = b.ns(dt_count as u32 + 1)? as usize;
    st.chain_count = chains as u8;
    st.protected_by = [0; MAX_DECODE_TARGETS];
    if chains > 0 {
        for dt in 0..dt_count {
            st.protected_by[dt] = b.ns(chains as u32)? as u8;
        }
        for t in &mut st.templates[..count] {
            for c in 0..chains {
                t.chain_fdiffs[c] = b.f(4)? as u8;
            }
        }
    }
    // decode_target_layers(): the highest layers of the templates that take part.
    for dt in 0..dt_count {
        let (mut s, mut t) = (0u8, 0u8);
        for tpl in &st.templates[..count] {
            if tpl.dtis.get(dt) != Dti::NotPresent {
                s = s.max(tpl.spatial_id);
                t = t.max(tpl.temporal_id);
            }
        }
        st.dt_layers[dt] = (s, t);
    }
    // render_resolutions()
    st.resolutions = None;
    if b.flag()? {
        let mut r = [(0u32, 0u32); MAX_SPATIAL_IDS];
        for x in r.iter_mut().take(usize::from(st.max_spatial_id) + 1) {
            *x = (b.f(16)? + 1, b.f(16)? + 1);
        }
        st.resolutions = Some(r);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MSB-first bit writer for hand-built descriptors.
    #[derive(Default)]
    struct W {
        bytes: Vec<u8>,
        bits: usize,
    }

    impl W {
        fn f(&mut self, n: u32, v: u32) -> &mut Self {
            for i in (0..n).rev() {
                if self.bits.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                let bit = ((v >> i) & 1) as u8;
                let last = self.bytes.len() - 1;
                self.bytes[last] |= bit << (7 - (self.bits % 8));
                self.bits += 1;
            }
            self
        }

        /// `ns(n)` writer (inverse of [`Bits::ns`]).
        fn ns(&mut self, n: u32, v: u32) -> &mut Self {
            let w = 32 - n.leading_zeros();
            let m = (1u32 << w) - n;
            if v < m {
                self.f(w - 1, v)
            } else {
                let x = v + m;
                self.f(w - 1, x >> 1).f(1, x & 1)
            }
        }

        fn mandatory(&mut self, sof: bool, eof: bool, tid: u8, frame: u16) -> &mut Self {
            self.f(1, sof.into())
                .f(1, eof.into())
                .f(6, tid.into())
                .f(16, frame.into())
        }
    }

    fn dtis(s: &str) -> Vec<u32> {
        s.chars()
            .map(|c| match c {
                '-' => 0,
                'D' => 1,
                'S' => 2,
                _ => 3,
            })
            .collect()
    }

    /// (sid, tid, dtis, fdiffs, chain fdiffs) per template.
    type Tpl = (u8, u8, &'static str, &'static [u8], &'static [u8]);

    /// Writes a structure: layers from the template order, DTIs, fdiffs, chains.
    fn structure(w: &mut W, offset: u8, dts: u32, tpls: &[Tpl], chains: u32, prot: &[u32]) {
        w.f(6, offset.into()).f(5, dts - 1);
        for (i, t) in tpls.iter().enumerate() {
            let idc = match tpls.get(i + 1) {
                None => 3,
                Some(n) if n.0 == t.0 && n.1 == t.1 => 0,
                Some(n) if n.0 == t.0 && n.1 == t.1 + 1 => 1,
                Some(n) if n.0 == t.0 + 1 && n.1 == 0 => 2,
                Some(_) => panic!("templates out of order"),
            };
            w.f(2, idc);
        }
        for t in tpls {
            for d in dtis(t.2) {
                w.f(2, d);
            }
        }
        for t in tpls {
            for d in t.3 {
                w.f(1, 1).f(4, u32::from(*d) - 1);
            }
            w.f(1, 0);
        }
        w.ns(dts + 1, chains);
        if chains > 0 {
            for p in prot {
                w.ns(chains, *p);
            }
            for t in tpls {
                for c in t.4 {
                    w.f(4, u32::from(*c));
                }
            }
        }
    }

    /// libwebrtc-like L1T3: T0 key, T0, T2, T1, T2; one chain.
    const L1T3: &[Tpl] = &[
        (0, 0, "SSS", &[], &[0]),
        (0, 0, "SSS", &[4], &[4]),
        (0, 1, "-DR", &[2], &[2]),
        (0, 2, "--D", &[1], &[1]),
        (0, 2, "--D", &[1], &[3]),
    ];

    /// An L3T3 structure: per spatial layer S, templates for T0, T1, T2; decode target
    /// 3S+T; one chain per spatial layer.
    const L3T3: &[Tpl] = &[
        (0, 0, "SSSSSSSSS", &[4], &[4, 0, 0]),
        (0, 1, "-DR-DR-DR", &[2], &[2, 0, 0]),
        (0, 2, "--D--D--D", &[1], &[1, 0, 0]),
        (1, 0, "---SSSSSS", &[4, 1], &[1, 4, 0]),
        (1, 1, "----DR-DR", &[2, 1], &[3, 2, 0]),
        (1, 2, "-----D--D", &[1, 1], &[2, 1, 0]),
        (2, 0, "------SSS", &[4, 1], &[2, 1, 4]),
        (2, 1, "-------DR", &[2, 1], &[4, 3, 2]),
        (2, 2, "--------D", &[1, 1], &[3, 2, 1]),
    ];

    fn keyframe_l1t3() -> Vec<u8> {
        let mut w = W::default();
        w.mandatory(true, false, 0, 500);
        // structure present, no active dts, no custom fields
        w.f(5, 0b10000);
        structure(&mut w, 0, 3, L1T3, 1, &[0, 0, 0]);
        // resolutions: 640x360
        w.f(1, 1).f(16, 639).f(16, 359);
        w.bytes
    }

    #[test]
    fn l1t3_structure_and_later_packets_resolve_their_templates() {
        let mut r = DdReader::new();
        assert_eq!(r.parse(&[0x80, 0x01, 0xF4]), Err(DdError::NoStructure));
        let d = r.parse(&keyframe_l1t3()).expect("key frame descriptor");
        assert!(d.start_of_frame && !d.end_of_frame && d.structure_attached);
        assert_eq!((d.template_id, d.frame_number), (0, 500));
        assert_eq!((d.spatial_id, d.temporal_id), (0, 0));
        assert_eq!(d.active_decode_targets, 0b111);
        assert_eq!(d.switch_mask(), 0b111);
        let st = r.structure().expect("kept");
        assert_eq!(st.decode_target_count(), 3);
        assert_eq!(st.templates().len(), 5);
        assert_eq!((st.max_spatial_id(), st.max_temporal_id()), (0, 2));
        assert_eq!(st.decode_target_layers(2), Some((0, 2)));
        assert_eq!(st.decode_target_layers(1), Some((0, 1)));
        assert_eq!(st.chain_count(), 1);
        assert_eq!(st.resolution(0), Some((640, 360)));
        assert_eq!(st.templates()[2].fdiffs(), &[2]);

        // A 3-byte descriptor: template 3 (T2), end of frame, frame 503.
        let mut w = W::default();
        w.mandatory(false, true, 3, 503);
        let d = r.parse(&w.bytes).expect("mandatory only");
        assert_eq!((d.spatial_id, d.temporal_id), (0, 2));
        assert!(!d.start_of_frame && d.end_of_frame);
        assert_eq!(d.frame_number, 503);
        assert_eq!(d.dtis.get(0), Dti::NotPresent);
        assert_eq!(d.dtis.get(2), Dti::Discardable);
        assert_eq!(d.fdiffs(), &[1]);
        assert_eq!(d.chain_fdiffs(), &[1]);
        assert_eq!(d.switch_mask(), 0);
        // Template 2 (T1): DTI "-DR".
        let mut w = W::default();
        w.mandatory(true, true, 2, 502);
        let d = r.parse(&w.bytes).expect("T1");
        assert_eq!(d.temporal_id, 1);
        assert_eq!(
            (d.dtis.get(0), d.dtis.get(1), d.dtis.get(2)),
            (Dti::NotPresent, Dti::Discardable, Dti::Required)
        );
        // Template 5 does not exist.
        let mut w = W::default();
        w.mandatory(true, true, 5, 504);
        assert_eq!(r.parse(&w.bytes), Err(DdError::UnknownTemplate(5)));
        assert_eq!(st_decode_target_for(&r, 2, 1), Some(1));
    }

    fn st_decode_target_for(r: &DdReader, s: u8, t: u8) -> Option<usize> {
        r.structure().and_then(|st| st.decode_target_for(s, t))
    }

    #[test]
    fn l3t3_structure_maps_templates_to_layers_with_an_offset() {
        let mut r = DdReader::new();
        let mut w = W::default();
        // Template ids start at 60 and wrap: template index i has id (60 + i) % 64.
        w.mandatory(true, true, 60, 7);
        w.f(5, 0b10000);
        structure(&mut w, 60, 9, L3T3, 3, &[0, 0, 0, 1, 1, 1, 2, 2, 2]);
        w.f(1, 0);
        let d = r.parse(&w.bytes).expect("key frame");
        assert_eq!((d.spatial_id, d.temporal_id), (0, 0));
        assert_eq!(d.active_decode_targets, 0x1FF);
        let st = r.structure().expect("kept");
        assert_eq!(st.templates().len(), 9);
        assert_eq!((st.max_spatial_id(), st.max_temporal_id()), (2, 2));
        for dt in 0..9 {
            assert_eq!(
                st.decode_target_layers(dt),
                Some(((dt / 3) as u8, (dt % 3) as u8))
            );
            assert_eq!(st.protected_by(dt), Some((dt / 3) as u8));
        }
        assert_eq!(st.decode_target_for(1, 2), Some(5));
        assert_eq!(st.decode_target_for(2, 0), Some(6));
        assert_eq!(st.decode_target_for(7, 7), Some(8));
        assert_eq!(st.resolution(0), None);
        // Template id 3 → index (3 + 64 - 60) % 64 = 7: S2 T1.
        let mut w = W::default();
        w.mandatory(true, false, 3, 20);
        let d = r.parse(&w.bytes).expect("S2T1");
        assert_eq!((d.spatial_id, d.temporal_id), (2, 1));
        assert_eq!(d.fdiffs(), &[2, 1]);
        assert_eq!(d.chain_fdiffs(), &[4, 3, 2]);
        // Template id 59 → index 63: none.
        let mut w = W::default();
        w.mandatory(true, false, 59, 21);
        assert_eq!(r.parse(&w.bytes), Err(DdError::UnknownTemplate(59)));
    }

    #[test]
    fn custom_fields_and_active_decode_targets_override_the_template() {
        let mut r = DdReader::new();
        r.parse(&keyframe_l1t3()).expect("structure");
        let mut w = W::default();
        // Template 1 (T0), active decode targets + custom dtis, fdiffs and chains.
        w.mandatory(true, true, 1, 600);
        w.f(5, 0b01111);
        w.f(3, 0b011); // DT0 and DT1 active
        for d in dtis("RDS") {
            w.f(2, d);
        }
        // fdiffs 3 (4-bit) and 300 (12-bit), then end.
        w.f(2, 1).f(4, 2).f(2, 3).f(12, 299).f(2, 0);
        w.f(8, 9); // one chain
        let d = r.parse(&w.bytes).expect("custom");
        assert!(d.active_decode_targets_present);
        assert_eq!(d.active_decode_targets, 0b011);
        assert_eq!(r.active_decode_targets(), 0b011);
        assert_eq!(
            (d.dtis.get(0), d.dtis.get(1), d.dtis.get(2)),
            (Dti::Required, Dti::Discardable, Dti::Switch)
        );
        assert_eq!(d.switch_mask(), 0b100);
        assert_eq!(d.fdiffs(), &[3, 300]);
        assert_eq!(d.chain_fdiffs(), &[9]);
        // The active set stays until the next update; a new structure resets it to all.
        let mut w = W::default();
        w.mandatory(true, true, 3, 601);
        assert_eq!(r.parse(&w.bytes).expect("T2").active_decode_targets, 0b011);
        assert_eq!(
            r.parse(&keyframe_l1t3())
                .expect("key")
                .active_decode_targets,
            0b111
        );
    }

    #[test]
    fn malformed_and_truncated_descriptors_are_errors_and_keep_the_old_structure() {
        let mut r = DdReader::new();
        assert_eq!(r.parse(&[]), Err(DdError::Truncated));
        assert_eq!(r.parse(&[0x80, 0x01]), Err(DdError::Truncated));
        let key = keyframe_l1t3();
        // Every truncation of the key frame's descriptor fails without storing anything.
        for n in 4..key.len() {
            assert!(r.parse(&key[..n]).is_err(), "cut at {n}");
            assert!(r.structure().is_none());
        }
        r.parse(&key).expect("whole");
        // A structure with a 65th template.
        let mut w = W::default();
        w.mandatory(true, false, 0, 1);
        w.f(5, 0b10000).f(6, 0).f(5, 0);
        for _ in 0..70 {
            w.f(2, 0);
        }
        assert_eq!(r.parse(&w.bytes), Err(DdError::TooManyTemplates));
        // Five spatial layers.
        let mut w = W::default();
        w.mandatory(true, false, 0, 1);
        w.f(5, 0b10000).f(6, 0).f(5, 0);
        for _ in 0..5 {
            w.f(2, 2);
        }
        w.f(2, 3).f(32, 0);
        assert_eq!(r.parse(&w.bytes), Err(DdError::TooManyLayers));
        // Too many custom fdiffs.
        let mut w = W::default();
        w.mandatory(true, false, 0, 2);
        w.f(5, 0b00010);
        for _ in 0..=MAX_FDIFFS {
            w.f(2, 1).f(4, 0);
        }
        w.f(2, 0);
        assert_eq!(r.parse(&w.bytes), Err(DdError::TooManyFdiffs));
        // The good structure is still in force.
        assert_eq!(r.structure().map(|s| s.templates().len()), Some(5));
        // Arbitrary bytes never panic.
        let mut x = 0x1234_5678u32;
        for len in 0..80 {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = r.parse(&buf);
        }
    }

    #[test]
    fn non_symmetric_numbers_round_trip() {
        for n in 1..40u32 {
            for v in 0..n {
                let mut w = W::default();
                w.ns(n, v).f(8, 0xA5);
                let mut b = Bits::new(&w.bytes);
                assert_eq!(b.ns(n).expect("ns"), v, "ns({n}) of {v}");
                assert_eq!(b.f(8).expect("tail"), 0xA5);
            }
        }
    }
}
