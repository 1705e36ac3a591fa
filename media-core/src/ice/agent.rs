//! ICE-lite responder (RFC 8445 §2.5), one per peer, sans-IO.
//!
//! The browser is the controlling full agent: it sends Binding requests to our single host
//! candidate, we answer. So this agent never sends a check, never gathers and needs neither
//! the remote candidates nor mDNS. What it does:
//!
//! - authenticates checks: USERNAME = `<local ufrag>:<remote ufrag>` (RFC 8445 §7.2.2),
//!   MESSAGE-INTEGRITY keyed with the local password (§7.2.2, RFC 5389 §15.4), FINGERPRINT when
//!   present;
//! - answers with a Binding success carrying XOR-MAPPED-ADDRESS (§7.3.1.2), or 487 Role
//!   Conflict when the peer claims to be controlled too (§7.3.1.1: a lite agent is always
//!   controlled);
//! - learns the source of each authenticated check as a peer-reflexive candidate (§7.3.1.3),
//!   bounded by [`MAX_REMOTE_CANDIDATES`];
//! - selects the path a check with USE-CANDIDATE arrived on (§7.3.1.5, §8.2). Chromium's first
//!   checks do not nominate; a later nomination on another path (network change) moves the
//!   selection: the latest nomination wins;
//! - tracks consent (RFC 7675 §5.1): every authenticated check on the selected path refreshes
//!   it; after [`IceConfig::disconnected_timeout`] without one the state is `Disconnected`,
//!   after [`IceConfig::consent_timeout`] (30 s, RFC 7675 §5.1) `Failed`;
//! - ICE restart (§9): new local credentials; the old ones stay valid, and the selected path
//!   stays selected, until a check with the new credentials nominates.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::distributions::{Alphanumeric, DistString};

use super::stun::{
    integrity_key, IntegrityKey, StunClass, StunError, StunMessage, StunWriter, METHOD_BINDING,
};

/// RFC 7675 §5.1: consent expires 30 s after the last authenticated check.
pub const DEFAULT_CONSENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Chromium refreshes consent on the selected pair every ~2.5 s (and RFC 7675 §5.1 every
/// 4–6 s); four missed refreshes at the slower pace mean the path is at least unhealthy.
pub const DEFAULT_DISCONNECTED_TIMEOUT: Duration = Duration::from_secs(10);
/// Peer-reflexive candidates remembered per peer; a browser has a few interfaces × families.
/// The least recently checked unselected one is forgotten beyond this.
pub const MAX_REMOTE_CANDIDATES: usize = 16;
/// Events queued before the oldest is dropped (the engine polls after every input).
const MAX_EVENTS: usize = 32;
/// Length of generated ufrags: RFC 8839 §5.4 wants ≥ 24 bits of randomness and 4–256 chars;
/// 8 alphanumerics carry ~47 bits, enough to route by ufrag without collisions in practice.
pub const UFRAG_LEN: usize = 8;
/// Length of generated passwords: RFC 8839 §5.4 wants ≥ 128 bits and 22–256 chars; 24
/// alphanumerics carry ~142 bits.
pub const PWD_LEN: usize = 24;
/// Bound on credentials accepted from SDP (RFC 8839 §5.4: at most 256 chars).
const MAX_CREDENTIAL_LEN: usize = 256;

/// Timers of the agent. The defaults run as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IceConfig {
    /// No authenticated check for this long → `Failed` (RFC 7675 §5.1). Also bounds how long
    /// a peer may stay `New`/`Checking` without ever nominating.
    pub consent_timeout: Duration,
    /// No authenticated check on the selected path for this long → `Disconnected`.
    pub disconnected_timeout: Duration,
}

impl Default for IceConfig {
    fn default() -> Self {
        IceConfig {
            consent_timeout: DEFAULT_CONSENT_TIMEOUT,
            disconnected_timeout: DEFAULT_DISCONNECTED_TIMEOUT,
        }
    }
}

/// Connection state, named after RTCIceConnectionState (no `Completed`: a lite agent does not
/// know when the controlling side is done).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IceState {
    #[default]
    New,
    /// Authenticated checks arrive, nothing nominated yet.
    Checking,
    /// A path is nominated and consent is fresh.
    Connected,
    /// Consent is getting stale; recovers on the next check on the selected path.
    Disconnected,
    /// Consent expired (RFC 7675 §5.1): stop sending. Only a restart leaves this state.
    Failed,
    /// [`IceLiteAgent::close`] was called.
    Closed,
}

/// What [`IceLiteAgent::poll_event`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IceEvent {
    /// State changes; one event per transition.
    Checking,
    Connected,
    Disconnected,
    Failed,
    Closed,
    /// The selected path is now this address (first nomination, a move, or the first
    /// nomination after a restart on a different address).
    Selected(SocketAddr),
    /// An authenticated check came from an address not seen before (peer-reflexive candidate,
    /// RFC 8445 §7.3.1.3). Media from it may be accepted (§7.3.1.4).
    NewCandidate(SocketAddr),
}

/// Why a datagram was not accepted as a check. Nothing was written to the output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IceError {
    #[error("malformed STUN: {0}")]
    Stun(#[from] StunError),
    #[error("not a Binding request or indication")]
    UnexpectedMessage,
    #[error("no USERNAME")]
    MissingUsername,
    #[error("USERNAME does not name our ufrag")]
    UnknownUfrag,
    #[error("USERNAME's remote ufrag does not match the SDP")]
    RemoteUfragMismatch,
    #[error("no MESSAGE-INTEGRITY")]
    MissingIntegrity,
    #[error("MESSAGE-INTEGRITY does not verify")]
    BadIntegrity,
    #[error("FINGERPRINT does not verify")]
    BadFingerprint,
    #[error("consent expired; only a restart revives the agent")]
    Failed,
    #[error("agent closed")]
    Closed,
}

/// What [`IceLiteAgent::handle_stun`] did with a valid message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IceReply {
    /// Bytes of the response appended to the output buffer; send them to the source address.
    /// 0 for an indication (keepalive, RFC 8445 §11), which gets no answer.
    pub len: usize,
    /// The check carried USE-CANDIDATE and its path is now the selected one.
    pub nominated: bool,
    /// The response is a 487 Role Conflict (the peer also claimed the controlled role).
    pub role_conflict: bool,
}

/// One generation of local credentials (a restart makes a new one).
struct LocalCredentials {
    ufrag: String,
    pwd: String,
    key: IntegrityKey,
}

impl LocalCredentials {
    fn new(ufrag: String, pwd: String) -> Self {
        let key = integrity_key(&pwd);
        LocalCredentials { ufrag, pwd, key }
    }
}

#[derive(Debug, Clone, Copy)]
struct RemoteCandidate {
    addr: SocketAddr,
    /// PRIORITY of the last check from it (what a peer-reflexive candidate gets, §7.3.1.3).
    priority: u32,
    last_check: Instant,
}

/// A peer-reflexive candidate learned from an authenticated check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CandidateInfo {
    pub addr: SocketAddr,
    pub priority: u32,
    pub last_check: Instant,
}

/// ICE-lite agent of one peer. See the module doc.
pub struct IceLiteAgent {
    config: IceConfig,
    local: LocalCredentials,
    /// The generation before the last [`Self::restart`], valid until the new one nominates.
    previous: Option<LocalCredentials>,
    /// Remote ufrags from SDP, current first then the one before a remote restart; `None`
    /// until the SDP arrives, in which case any remote part is accepted.
    remote_ufrag: Option<String>,
    previous_remote_ufrag: Option<String>,
    remote_pwd: Option<String>,
    candidates: Vec<RemoteCandidate>,
    selected: Option<SocketAddr>,
    state: IceState,
    events: VecDeque<IceEvent>,
    /// When the clock started (first input): bounds `New`/`Checking`.
    started: Option<Instant>,
    /// Last authenticated check from any path.
    last_check: Option<Instant>,
}

/// Fresh random ICE credentials `(ufrag, pwd)` (RFC 8839 §5.4), alphanumerics only so they
/// survive URLs, JSON and Janus clients unchanged; from the OS-seeded CSPRNG.
pub fn random_credentials() -> (String, String) {
    let mut rng = rand::thread_rng();
    (
        Alphanumeric.sample_string(&mut rng, UFRAG_LEN),
        Alphanumeric.sample_string(&mut rng, PWD_LEN),
    )
}

impl IceLiteAgent {
    /// An agent with our credentials and the given consent timeout (other timers default;
    /// the disconnected timeout is clamped to it).
    pub fn new(local_ufrag: String, local_pwd: String, consent_timeout: Duration) -> Self {
        let config = IceConfig {
            consent_timeout,
            disconnected_timeout: DEFAULT_DISCONNECTED_TIMEOUT.min(consent_timeout),
        };
        Self::with_config(local_ufrag, local_pwd, config)
    }

    pub fn with_config(local_ufrag: String, local_pwd: String, config: IceConfig) -> Self {
        IceLiteAgent {
            config,
            local: LocalCredentials::new(local_ufrag, local_pwd),
            previous: None,
            remote_ufrag: None,
            previous_remote_ufrag: None,
            remote_pwd: None,
            candidates: Vec::with_capacity(MAX_REMOTE_CANDIDATES),
            selected: None,
            state: IceState::New,
            events: VecDeque::with_capacity(MAX_EVENTS),
            started: None,
            last_check: None,
        }
    }

    pub fn local_ufrag(&self) -> &str {
        &self.local.ufrag
    }
    pub fn local_pwd(&self) -> &str {
        &self.local.pwd
    }
    pub fn remote_ufrag(&self) -> Option<&str> {
        self.remote_ufrag.as_deref()
    }
    /// Unused by a lite agent (it sends no checks) but kept for stats and a future full agent.
    pub fn remote_pwd(&self) -> Option<&str> {
        self.remote_pwd.as_deref()
    }
    pub fn state(&self) -> IceState {
        self.state
    }
    pub fn config(&self) -> IceConfig {
        self.config
    }
    /// The nominated path, where media goes.
    pub fn selected(&self) -> Option<SocketAddr> {
        self.selected
    }
    /// Learned peer-reflexive candidates, in no particular order.
    pub fn candidates(&self) -> impl Iterator<Item = CandidateInfo> + '_ {
        self.candidates.iter().map(|c| CandidateInfo {
            addr: c.addr,
            priority: c.priority,
            last_check: c.last_check,
        })
    }
    /// Whether `addr` passed an authenticated check (media from it may be accepted).
    pub fn is_validated(&self, addr: SocketAddr) -> bool {
        self.candidates.iter().any(|c| c.addr == addr)
    }

    /// Credentials from the remote SDP (`a=ice-ufrag`, `a=ice-pwd`). A changed ufrag is a
    /// remote ICE restart: the previous one keeps working until the next nomination. Over-long
    /// values (RFC 8839 §5.4: ≤ 256 chars) are ignored.
    pub fn set_remote_credentials(&mut self, ufrag: &str, pwd: &str) {
        if ufrag.len() > MAX_CREDENTIAL_LEN || pwd.len() > MAX_CREDENTIAL_LEN {
            return;
        }
        if self.remote_ufrag.as_deref() != Some(ufrag) {
            self.previous_remote_ufrag = self.remote_ufrag.replace(ufrag.to_owned());
        }
        self.remote_pwd = Some(pwd.to_owned());
    }

    /// ICE restart (RFC 8445 §9) with new local credentials. The selected path is kept, and
    /// checks with the old credentials still answered, until a check with the new ones
    /// nominates. A `Failed` agent goes back to `Checking` with a fresh consent clock.
    pub fn restart(&mut self, local_ufrag: String, local_pwd: String) {
        if self.state == IceState::Closed {
            return;
        }
        let old = std::mem::replace(
            &mut self.local,
            LocalCredentials::new(local_ufrag, local_pwd),
        );
        self.previous = Some(old);
        if self.state == IceState::Failed {
            self.selected = None;
            self.last_check = None;
            self.started = None;
            self.set_state(IceState::Checking);
        }
    }

    /// Stops the agent: every later input is refused.
    pub fn close(&mut self) {
        self.set_state(IceState::Closed);
        self.selected = None;
    }

    /// Handles one STUN datagram from `from`. A valid Binding request is answered: the
    /// response is appended to `out` (reserve ≥ 128 bytes once and nothing allocates).
    /// On error nothing is written and the datagram should be dropped (we do not answer
    /// unauthenticated requests with 400/401: that would only help a scanner).
    pub fn handle_stun(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<IceReply, IceError> {
        match self.state {
            IceState::Closed => return Err(IceError::Closed),
            IceState::Failed => return Err(IceError::Failed),
            _ => {}
        }
        self.started.get_or_insert(now);
        let msg = StunMessage::try_parse(datagram)?;
        if msg.method() != METHOD_BINDING {
            return Err(IceError::UnexpectedMessage);
        }
        match msg.class() {
            StunClass::Request => {}
            // Keepalive (RFC 8445 §11): no answer, no consent (RFC 7675 §5.1 wants an
            // authenticated request).
            StunClass::Indication => return Ok(IceReply::default()),
            _ => return Err(IceError::UnexpectedMessage),
        }
        let username = msg.username().ok_or(IceError::MissingUsername)?;
        let (local, remote) = username.split_once(':').ok_or(IceError::UnknownUfrag)?;
        let current = local == self.local.ufrag;
        let generation = if current {
            &self.local
        } else {
            match &self.previous {
                Some(p) if p.ufrag == local => p,
                _ => return Err(IceError::UnknownUfrag),
            }
        };
        if let Some(expected) = &self.remote_ufrag {
            let previous_ok = self.previous_remote_ufrag.as_deref() == Some(remote);
            if expected != remote && !previous_ok {
                return Err(IceError::RemoteUfragMismatch);
            }
        }
        if !msg.has_integrity() {
            return Err(IceError::MissingIntegrity);
        }
        if !msg.check_fingerprint() {
            return Err(IceError::BadFingerprint);
        }
        if !msg.check_integrity(&generation.key) {
            return Err(IceError::BadIntegrity);
        }

        // Authenticated. §7.3.1.1: a lite agent is controlled; a peer claiming the controlled
        // role too must switch, which a 487 tells it. The check does not count.
        if msg.ice_controlled().is_some() && msg.ice_controlling().is_none() {
            let mut w = StunWriter::new(
                out,
                METHOD_BINDING,
                StunClass::ErrorResponse,
                msg.transaction_id(),
            );
            w.error_code(487, "Role Conflict")
                .message_integrity(&generation.key);
            let len = w.finish_with_fingerprint();
            return Ok(IceReply {
                len,
                nominated: false,
                role_conflict: true,
            });
        }

        let mut w = StunWriter::new(
            out,
            METHOD_BINDING,
            StunClass::SuccessResponse,
            msg.transaction_id(),
        );
        w.xor_mapped_address(from)
            .message_integrity(&generation.key);
        let len = w.finish_with_fingerprint();

        self.last_check = Some(now);
        self.learn(now, from, msg.priority().unwrap_or(0));
        let mut reply = IceReply {
            len,
            nominated: false,
            role_conflict: false,
        };
        if msg.use_candidate() {
            reply.nominated = true;
            if current {
                // The new generation nominated: the restart is complete.
                self.previous = None;
                self.previous_remote_ufrag = None;
            }
            if self.selected != Some(from) {
                self.selected = Some(from);
                self.push_event(IceEvent::Selected(from));
            }
        }
        match self.state {
            IceState::New if self.selected.is_none() => self.set_state(IceState::Checking),
            IceState::New | IceState::Checking if self.selected.is_some() => {
                self.set_state(IceState::Connected)
            }
            // Consent refreshed on the selected path (RFC 7675 §5.1) or a new nomination.
            IceState::Disconnected if self.selected == Some(from) => {
                self.set_state(IceState::Connected)
            }
            _ => {}
        }
        Ok(reply)
    }

    /// Remembers (or refreshes) a peer-reflexive candidate, evicting the stalest unselected
    /// one when full.
    fn learn(&mut self, now: Instant, addr: SocketAddr, priority: u32) {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.addr == addr) {
            c.last_check = now;
            c.priority = priority;
            return;
        }
        if self.candidates.len() >= MAX_REMOTE_CANDIDATES {
            let selected = self.selected;
            let stalest = self
                .candidates
                .iter()
                .enumerate()
                .filter(|(_, c)| Some(c.addr) != selected)
                .min_by_key(|(_, c)| c.last_check)
                .map(|(i, _)| i);
            match stalest {
                Some(i) => {
                    self.candidates.swap_remove(i);
                }
                None => return,
            }
        }
        self.candidates.push(RemoteCandidate {
            addr,
            priority,
            last_check: now,
        });
        self.push_event(IceEvent::NewCandidate(addr));
    }

    /// The instant consent is measured from: the last check on the selected path, else the
    /// last check at all, else the first input.
    fn consent_reference(&self) -> Option<Instant> {
        let on_selected = self
            .selected
            .and_then(|s| self.candidates.iter().find(|c| c.addr == s))
            .map(|c| c.last_check);
        on_selected.or(self.last_check).or(self.started)
    }

    /// Advances timers: consent expiry (RFC 7675 §5.1). Call at [`Self::poll_timeout`] or on a
    /// periodic tick; the first call also starts the clock of an agent that saw no input yet.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.started.get_or_insert(now);
        if matches!(self.state, IceState::Failed | IceState::Closed) {
            return;
        }
        let Some(reference) = self.consent_reference() else {
            return;
        };
        let idle = now.saturating_duration_since(reference);
        if idle >= self.config.consent_timeout {
            self.selected = None;
            self.set_state(IceState::Failed);
        } else if idle >= self.config.disconnected_timeout && self.state == IceState::Connected {
            self.set_state(IceState::Disconnected);
        }
    }

    /// When [`Self::handle_timeout`] next has something to do; `None` when nothing is pending
    /// (closed, failed, or no input yet).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let reference = self.consent_reference()?;
        match self.state {
            IceState::Connected => Some(reference + self.config.disconnected_timeout),
            IceState::New | IceState::Checking | IceState::Disconnected => {
                Some(reference + self.config.consent_timeout)
            }
            IceState::Failed | IceState::Closed => None,
        }
    }

    /// Next event, oldest first.
    pub fn poll_event(&mut self) -> Option<IceEvent> {
        self.events.pop_front()
    }

    fn set_state(&mut self, state: IceState) {
        if self.state == state {
            return;
        }
        self.state = state;
        let ev = match state {
            IceState::New => return,
            IceState::Checking => IceEvent::Checking,
            IceState::Connected => IceEvent::Connected,
            IceState::Disconnected => IceEvent::Disconnected,
            IceState::Failed => IceEvent::Failed,
            IceState::Closed => IceEvent::Closed,
        };
        self.push_event(ev);
    }

    fn push_event(&mut self, ev: IceEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(ev);
    }
}

impl std::fmt::Debug for IceLiteAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No passwords in logs.
        f.debug_struct("IceLiteAgent")
            .field("local_ufrag", &self.local.ufrag)
            .field("remote_ufrag", &self.remote_ufrag)
            .field("state", &self.state)
            .field("selected", &self.selected)
            .field("candidates", &self.candidates.len())
            .field("restarting", &self.previous.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ice::stun::{StunMessage, TransactionId};

    const LOCAL_UFRAG: &str = "evtj";
    const REMOTE_UFRAG: &str = "h6vY";
    const LOCAL_PWD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    /// A check as Chromium sends it: controlling, PRIORITY, optionally USE-CANDIDATE.
    fn check(local: &str, remote: &str, pwd: &str, nominate: bool, tid: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = StunWriter::new(
            &mut out,
            METHOD_BINDING,
            StunClass::Request,
            TransactionId([tid; 12]),
        );
        w.username(&format!("{local}:{remote}"))
            .priority(0x6e0001ff)
            .ice_controlling(0x1234);
        if nominate {
            w.use_candidate();
        }
        w.message_integrity(&integrity_key(pwd));
        w.finish_with_fingerprint();
        out
    }

    fn agent() -> IceLiteAgent {
        IceLiteAgent::new(
            LOCAL_UFRAG.into(),
            LOCAL_PWD.into(),
            DEFAULT_CONSENT_TIMEOUT,
        )
    }

    fn events(a: &mut IceLiteAgent) -> Vec<IceEvent> {
        std::iter::from_fn(|| a.poll_event()).collect()
    }

    #[test]
    fn rfc5769_request_is_answered_with_authenticated_xor_mapped_address() {
        // The RFC 5769 request claims ICE-CONTROLLED: a lite agent answers 487.
        let mut a = agent();
        let from = addr("192.0.2.1:32853");
        let mut out = Vec::new();
        let r = a.handle_stun(
            Instant::now(),
            from,
            &crate::ice::stun::tests::RFC5769_REQUEST,
            &mut out,
        );
        let r = r.expect("authenticated");
        assert!(r.role_conflict);
        let m = StunMessage::try_parse(&out).expect("response parses");
        assert_eq!(m.error_code().map(|e| e.0), Some(487));
        assert!(m.check_integrity(&integrity_key(LOCAL_PWD)));
        assert_eq!(a.state(), IceState::New);

        let mut out = Vec::new();
        let r = a.handle_stun(
            Instant::now(),
            from,
            &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, false, 1),
            &mut out,
        );
        let r = r.expect("authenticated");
        assert_eq!(r.len, out.len());
        let m = StunMessage::try_parse(&out).expect("response parses");
        assert_eq!(m.class(), StunClass::SuccessResponse);
        assert_eq!(m.transaction_id(), TransactionId([1; 12]));
        assert_eq!(m.xor_mapped_address(), Some(from));
        assert!(m.check_integrity(&integrity_key(LOCAL_PWD)));
        assert!(m.check_fingerprint());
        assert!(m.username().is_none());
    }

    #[test]
    fn unauthenticated_checks_are_refused_and_not_answered() {
        let mut a = agent();
        a.set_remote_credentials(REMOTE_UFRAG, "remote-password-remote");
        let from = addr("10.0.0.1:5000");
        let now = Instant::now();
        let mut out = Vec::new();
        let cases = [
            (
                check("nope", REMOTE_UFRAG, LOCAL_PWD, true, 1),
                IceError::UnknownUfrag,
            ),
            (
                check(LOCAL_UFRAG, "other", LOCAL_PWD, true, 2),
                IceError::RemoteUfragMismatch,
            ),
            (
                check(
                    LOCAL_UFRAG,
                    REMOTE_UFRAG,
                    "wrong-password-wrong-pw",
                    true,
                    3,
                ),
                IceError::BadIntegrity,
            ),
        ];
        for (msg, err) in cases {
            assert_eq!(a.handle_stun(now, from, &msg, &mut out), Err(err));
        }
        let mut bad_fp = check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, true, 4);
        let last = bad_fp.len() - 1;
        bad_fp[last] ^= 0xff;
        assert_eq!(
            a.handle_stun(now, from, &bad_fp, &mut out),
            Err(IceError::BadFingerprint)
        );
        assert!(matches!(
            a.handle_stun(now, from, b"\x00\x01garbage", &mut out),
            Err(IceError::Stun(_))
        ));
        assert!(out.is_empty());
        assert_eq!(a.state(), IceState::New);
        assert_eq!(a.selected(), None);
        assert!(events(&mut a).is_empty());
    }

    #[test]
    fn unknown_remote_ufrag_is_accepted_before_the_sdp_arrives() {
        let mut a = agent();
        let mut out = Vec::new();
        let now = Instant::now();
        let from = addr("10.0.0.1:5000");
        assert!(a
            .handle_stun(
                now,
                from,
                &check(LOCAL_UFRAG, "anything", LOCAL_PWD, false, 1),
                &mut out
            )
            .is_ok());
        a.set_remote_credentials(REMOTE_UFRAG, "remote-password-remote");
        assert_eq!(
            a.handle_stun(
                now,
                from,
                &check(LOCAL_UFRAG, "anything", LOCAL_PWD, false, 2),
                &mut out
            ),
            Err(IceError::RemoteUfragMismatch)
        );
    }

    /// Virtual clock: checks without nomination, nomination, consent refreshes, expiry.
    #[test]
    fn nomination_then_consent_expiry_on_virtual_clock() {
        let mut a = agent();
        a.set_remote_credentials(REMOTE_UFRAG, "remote-password-remote");
        let t0 = Instant::now();
        let p1 = addr("192.168.1.10:50000");
        let p2 = addr("[2001:db8::1]:50001");
        let mut out = Vec::new();

        // Chromium's first checks: both paths, no USE-CANDIDATE.
        a.handle_stun(
            t0,
            p1,
            &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, false, 1),
            &mut out,
        )
        .expect("ok");
        a.handle_stun(
            t0,
            p2,
            &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, false, 2),
            &mut out,
        )
        .expect("ok");
        assert_eq!(a.state(), IceState::Checking);
        assert_eq!(a.selected(), None);
        assert!(a.is_validated(p1) && a.is_validated(p2));
        assert_eq!(
            events(&mut a),
            [
                IceEvent::NewCandidate(p1),
                IceEvent::Checking,
                IceEvent::NewCandidate(p2)
            ]
        );

        // Nomination on p2.
        let t1 = t0 + Duration::from_millis(100);
        let r = a
            .handle_stun(
                t1,
                p2,
                &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, true, 3),
                &mut out,
            )
            .expect("ok");
        assert!(r.nominated);
        assert_eq!(a.selected(), Some(p2));
        assert_eq!(a.state(), IceState::Connected);
        assert_eq!(
            events(&mut a),
            [IceEvent::Selected(p2), IceEvent::Connected]
        );
        assert_eq!(a.poll_timeout(), Some(t1 + DEFAULT_DISCONNECTED_TIMEOUT));

        // Consent refreshed every 2.5 s for a minute: stays connected.
        let mut t = t1;
        for i in 0..24u8 {
            t += Duration::from_millis(2500);
            a.handle_timeout(t);
            a.handle_stun(
                t,
                p2,
                &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, false, 10 + i),
                &mut out,
            )
            .expect("ok");
        }
        assert_eq!(a.state(), IceState::Connected);
        assert!(events(&mut a).is_empty());

        // Checks on the unselected path do not refresh the selected one's consent.
        let last = t;
        a.handle_stun(
            last + Duration::from_secs(5),
            p1,
            &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, false, 50),
            &mut out,
        )
        .expect("ok");
        a.handle_timeout(last + DEFAULT_DISCONNECTED_TIMEOUT - Duration::from_millis(1));
        assert_eq!(a.state(), IceState::Connected);
        a.handle_timeout(last + DEFAULT_DISCONNECTED_TIMEOUT);
        assert_eq!(a.state(), IceState::Disconnected);
        assert_eq!(events(&mut a), [IceEvent::Disconnected]);

        // A check on the selected path recovers.
        let t2 = last + Duration::from_secs(12);
        a.handle_stun(
            t2,
            p2,
            &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, false, 51),
            &mut out,
        )
        .expect("ok");
        assert_eq!(a.state(), IceState::Connected);
        assert_eq!(events(&mut a), [IceEvent::Connected]);

        // Silence: Disconnected, then Failed at 30 s.
        a.handle_timeout(t2 + Duration::from_secs(10));
        assert_eq!(a.poll_timeout(), Some(t2 + DEFAULT_CONSENT_TIMEOUT));
        a.handle_timeout(t2 + Duration::from_secs(30));
        assert_eq!(a.state(), IceState::Failed);
        assert_eq!(a.selected(), None);
        assert_eq!(a.poll_timeout(), None);
        assert_eq!(events(&mut a), [IceEvent::Disconnected, IceEvent::Failed]);
    }

    #[test]
    fn a_peer_that_never_checks_fails_after_the_consent_timeout() {
        let mut a = agent();
        let t0 = Instant::now();
        a.handle_timeout(t0);
        assert_eq!(a.poll_timeout(), Some(t0 + DEFAULT_CONSENT_TIMEOUT));
        a.handle_timeout(t0 + Duration::from_secs(29));
        assert_eq!(a.state(), IceState::New);
        a.handle_timeout(t0 + Duration::from_secs(30));
        assert_eq!(a.state(), IceState::Failed);
        assert_eq!(events(&mut a), [IceEvent::Failed]);
    }

    #[test]
    fn latest_nomination_moves_the_selected_path() {
        let mut a = agent();
        let t0 = Instant::now();
        let (p1, p2) = (addr("10.0.0.1:1"), addr("10.0.0.2:2"));
        let mut out = Vec::new();
        a.handle_stun(
            t0,
            p1,
            &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, true, 1),
            &mut out,
        )
        .expect("ok");
        a.handle_stun(
            t0,
            p2,
            &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, true, 2),
            &mut out,
        )
        .expect("ok");
        assert_eq!(a.selected(), Some(p2));
        let ev = events(&mut a);
        assert_eq!(
            ev.iter()
                .filter(|e| matches!(e, IceEvent::Selected(_)))
                .count(),
            2
        );
        assert_eq!(
            ev.iter()
                .filter(|e| matches!(e, IceEvent::Connected))
                .count(),
            1
        );
    }

    #[test]
    fn restart_keeps_the_old_path_until_the_new_credentials_nominate() {
        let mut a = agent();
        a.set_remote_credentials(REMOTE_UFRAG, "remote-password-remote");
        let t0 = Instant::now();
        let (old_path, new_path) = (addr("10.0.0.1:1000"), addr("10.0.0.9:9000"));
        let mut out = Vec::new();
        a.handle_stun(
            t0,
            old_path,
            &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, true, 1),
            &mut out,
        )
        .expect("ok");
        let _ = events(&mut a);

        let (ufrag, pwd) = random_credentials();
        a.restart(ufrag.clone(), pwd.clone());
        a.set_remote_credentials("newR", "remote-password-remote2");
        assert_eq!(a.local_ufrag(), ufrag);
        assert_eq!(a.selected(), Some(old_path));

        // Consent on the old path with the old credentials still counts.
        let t1 = t0 + Duration::from_secs(8);
        a.handle_stun(
            t1,
            old_path,
            &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, false, 2),
            &mut out,
        )
        .expect("old ok");
        // New credentials, no nomination yet: path unchanged.
        a.handle_stun(
            t1,
            new_path,
            &check(&ufrag, "newR", &pwd, false, 3),
            &mut out,
        )
        .expect("new ok");
        assert_eq!(a.selected(), Some(old_path));
        a.handle_timeout(t0 + Duration::from_secs(15));
        assert_eq!(a.state(), IceState::Connected);

        // The new generation nominates: path moves, old credentials are dropped.
        let t2 = t0 + Duration::from_secs(16);
        a.handle_stun(
            t2,
            new_path,
            &check(&ufrag, "newR", &pwd, true, 4),
            &mut out,
        )
        .expect("new ok");
        assert_eq!(a.selected(), Some(new_path));
        assert_eq!(
            a.handle_stun(
                t2,
                old_path,
                &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, false, 5),
                &mut out
            ),
            Err(IceError::UnknownUfrag)
        );
        assert!(events(&mut a).contains(&IceEvent::Selected(new_path)));
    }

    #[test]
    fn indications_are_not_answered_and_closed_agents_refuse_input() {
        let mut a = agent();
        let mut out = Vec::new();
        let mut ind = Vec::new();
        StunWriter::new(
            &mut ind,
            METHOD_BINDING,
            StunClass::Indication,
            TransactionId([9; 12]),
        )
        .finish_with_fingerprint();
        let r = a
            .handle_stun(Instant::now(), addr("10.0.0.1:1"), &ind, &mut out)
            .expect("indication ok");
        assert_eq!(r.len, 0);
        assert!(out.is_empty());
        a.close();
        assert_eq!(a.state(), IceState::Closed);
        assert_eq!(events(&mut a), [IceEvent::Closed]);
        let msg = check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, true, 1);
        assert_eq!(
            a.handle_stun(Instant::now(), addr("10.0.0.1:1"), &msg, &mut out),
            Err(IceError::Closed)
        );
    }

    #[test]
    fn candidates_are_bounded() {
        let mut a = agent();
        let t0 = Instant::now();
        let mut out = Vec::new();
        for i in 0..100u16 {
            let from = SocketAddr::from(([10, 0, 0, 1], 1000 + i));
            let t = t0 + Duration::from_millis(u64::from(i));
            a.handle_stun(
                t,
                from,
                &check(LOCAL_UFRAG, REMOTE_UFRAG, LOCAL_PWD, i == 0, 1),
                &mut out,
            )
            .expect("ok");
        }
        assert_eq!(a.candidates().count(), MAX_REMOTE_CANDIDATES);
        // The selected (first, stalest) candidate was never evicted.
        assert!(a.is_validated(SocketAddr::from(([10, 0, 0, 1], 1000))));
        assert!(a.events.len() <= MAX_EVENTS);
    }

    #[test]
    fn random_credentials_follow_rfc8839() {
        let (u, p) = random_credentials();
        assert_eq!(u.len(), UFRAG_LEN);
        assert_eq!(p.len(), PWD_LEN);
        assert!(u
            .chars()
            .chain(p.chars())
            .all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(random_credentials(), random_credentials());
    }
}
