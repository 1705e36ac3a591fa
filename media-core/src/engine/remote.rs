//! From a remote session description to what the engine needs ([`RemoteParams`]).
//!
//! Kept apart from `sdp` (a pure SDP model) and from the receive task (no SDP there): this is
//! where "which m-line does a packet belong to" is decided from `a=ssrc`, `a=rid`, `a=extmap`.

use super::dtls_transport::DtlsRole;
use super::peer::{MediaKind, RecvStreamParams, RemoteParams};
use crate::dtls::fingerprint::Fingerprint;
use crate::sdp::{
    Codec, MediaKind as SdpKind, RidDirection, RtpExtension, SessionDescription, Setup,
};

/// Most recv streams a PeerConnection may declare (m-lines are bounded by the SDP parser too).
pub const MAX_STREAMS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteSdpError {
    #[error("no m-line")]
    NoMedia,
    #[error("missing ice-ufrag or ice-pwd")]
    MissingIce,
    #[error("missing or invalid fingerprint")]
    MissingFingerprint,
}

/// Transport attributes of the bundle transport of a remote description.
#[derive(Debug, Clone)]
pub struct RemoteTransport {
    pub ice_ufrag: String,
    pub ice_pwd: String,
    pub fingerprint: Fingerprint,
    pub setup: Option<Setup>,
}

/// Reads ICE credentials, fingerprint and setup of the first (bundle) m-line.
pub fn remote_transport(sd: &SessionDescription) -> Result<RemoteTransport, RemoteSdpError> {
    let mindex = sd.transport_mindex().ok_or(RemoteSdpError::NoMedia)?;
    let t = sd.effective_transport(mindex);
    let (Some(ufrag), Some(pwd)) = (t.ice_ufrag, t.ice_pwd) else {
        return Err(RemoteSdpError::MissingIce);
    };
    let fp = t.fingerprint.ok_or(RemoteSdpError::MissingFingerprint)?;
    let fingerprint = Fingerprint::parse(&format!("{} {}", fp.hash, fp.value))
        .map_err(|_| RemoteSdpError::MissingFingerprint)?;
    Ok(RemoteTransport {
        ice_ufrag: ufrag.to_owned(),
        ice_pwd: pwd.to_owned(),
        fingerprint,
        setup: t.setup,
    })
}

/// The simulcast layers a section sends, lowest quality first (layer 0 = lowest).
///
/// Janus's rule: rids are listed highest first unless the client said `rid_order: "lmh"`.
fn send_rids(m: &crate::sdp::MediaSection, low_first: bool) -> Vec<String> {
    let mut rids: Vec<String> = match &m.simulcast {
        Some(sim) if !sim.send.is_empty() => sim
            .send
            .iter()
            .filter_map(|alts| alts.first())
            .map(|r| r.rid.clone())
            .collect(),
        _ => m
            .rids
            .iter()
            .filter(|r| r.direction == RidDirection::Send)
            .map(|r| r.id.clone())
            .collect(),
    };
    if !low_first {
        rids.reverse();
    }
    rids
}

/// Builds the engine's view of the remote description. `low_first` is Janus's `rid_order`
/// being `lmh`.
pub fn remote_params(
    sd: &SessionDescription,
    transport: &RemoteTransport,
    dtls_role: DtlsRole,
    low_first: bool,
) -> RemoteParams {
    let mut streams = Vec::new();
    let (mut mid_ext, mut rid_ext, mut repaired_rid_ext, mut twcc_ext) = (None, None, None, None);
    for m in sd
        .media
        .iter()
        .filter(|m| m.kind.is_rtp())
        .take(MAX_STREAMS)
    {
        let kind = if m.kind == SdpKind::Video {
            MediaKind::Video
        } else {
            MediaKind::Audio
        };
        // Media SSRCs first: with `ssrc-group:FID a b`, `b` repairs `a`.
        let mut ssrcs = m.ssrc_ids();
        if let Some(sim) = m.ssrc_group("SIM") {
            ssrcs.retain(|s| !sim.ssrcs.contains(s));
            let mut ordered = sim.ssrcs.clone();
            ordered.extend(ssrcs);
            ssrcs = ordered;
        }
        let ext_id = |e: RtpExtension| m.extmap(e).and_then(|x| u8::try_from(x.id).ok());
        mid_ext = mid_ext.or(ext_id(RtpExtension::Mid));
        rid_ext = rid_ext.or(ext_id(RtpExtension::Rid));
        repaired_rid_ext = repaired_rid_ext.or(ext_id(RtpExtension::RepairedRid));
        twcc_ext = twcc_ext.or(ext_id(RtpExtension::TransportCc));
        streams.push(RecvStreamParams {
            mid: m.mid.clone().unwrap_or_default(),
            kind,
            ssrcs,
            rids: send_rids(m, low_first),
            rtx_pts: m.rtx_map().collect(),
            pts: m
                .pts()
                .filter(|pt| m.payload(*pt).is_none_or(|p| p.codec() != Codec::Rtx))
                .collect(),
        });
    }
    RemoteParams {
        ice_ufrag: transport.ice_ufrag.clone(),
        ice_pwd: transport.ice_pwd.clone(),
        fingerprint: Some(transport.fingerprint.clone()),
        dtls_role,
        data_channels: sd.media.iter().any(|m| m.is_data() && !m.is_rejected()),
        streams,
        mid_ext,
        rid_ext,
        repaired_rid_ext,
        twcc_ext,
    }
}
