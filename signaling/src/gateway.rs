//! [`Gateway`]: the [`Core`] plus its clock and the plugins' callback path.
//!
//! The gateway is what the application holds: it gives plugins their [`PluginEvents`],
//! runs the session watchdog on the tokio clock and hands `Instant::now()` to the core.

use std::sync::{Arc, Weak};
use std::time::Instant;

use serde_json::{Map, Value};

use crate::config::GeneralConfig;
use crate::core::{Core, Settings, SettingsObserver};
use crate::host::{WebRtcEvent, WebRtcHost};
use crate::ids::HandleId;
use crate::jsep::Jsep;
use crate::plugin::{Plugin, PluginEvents, PushError};
use crate::stats::GatewayStats;

pub struct Gateway {
    core: Arc<Core>,
}

/// The callbacks every plugin gets in `init` (Janus `janus_callbacks`).
struct Callbacks {
    core: Weak<Core>,
}

impl PluginEvents for Callbacks {
    fn push_event(
        &self,
        handle: HandleId,
        transaction: Option<String>,
        data: Value,
        jsep: Option<Jsep>,
    ) -> Result<(), PushError> {
        match self.core.upgrade() {
            Some(core) => core.push_event(handle, transaction, data, jsep),
            None => Err(PushError::NoSuchHandle),
        }
    }

    fn close_pc(&self, handle: HandleId) {
        if let Some(core) = self.core.upgrade() {
            core.close_pc(handle);
        }
    }

    fn end_session(&self, handle: HandleId) {
        if let Some(core) = self.core.upgrade() {
            core.end_session(handle);
        }
    }

    fn notify_event(&self, handle: Option<HandleId>, data: Value) {
        tracing::debug!(?handle, %data, "plugin notify_event");
    }
}

impl Gateway {
    /// Builds the gateway and calls every plugin's `init`. Inside a tokio runtime it also
    /// starts the session watchdog (every `general.watchdog_period`, 2 s as Janus).
    pub fn new(
        general: GeneralConfig,
        plugins: Vec<Arc<dyn Plugin>>,
        host: Arc<dyn WebRtcHost>,
    ) -> Arc<Gateway> {
        let period = general.watchdog_period;
        let core = Arc::new(Core::new(general, plugins, host, Instant::now()));
        let events: Arc<dyn PluginEvents> = Arc::new(Callbacks {
            core: Arc::downgrade(&core),
        });
        for p in core.plugins() {
            p.init(events.clone());
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&core);
            rt.spawn(async move {
                let mut tick =
                    tokio::time::interval(period.max(std::time::Duration::from_millis(10)));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(core) = weak.upgrade() else { break };
                    core.handle_tick(Instant::now());
                }
            });
        }
        Arc::new(Gateway { core })
    }

    /// The sans-IO core (transports and tests drive it directly).
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Reports a PeerConnection event of `handle` (the host calls this).
    pub fn webrtc_event(&self, handle: HandleId, event: WebRtcEvent) {
        self.core.webrtc_event(handle, event);
    }

    pub fn stats(&self) -> GatewayStats {
        self.core.stats()
    }

    /// Current Admin-API settings (log level, session timeout, …).
    pub fn settings(&self) -> Settings {
        self.core.settings()
    }

    /// Called after each Admin `set_*` request (apply `log_level` to the logger, …).
    pub fn on_settings_change(&self, observer: SettingsObserver) {
        self.core.set_settings_observer(observer);
    }

    /// Media facts merged into `info` (`local-ip`, `ice-lite`, `ipv6`, `public-ip`, …).
    pub fn set_info_extra(&self, extra: Map<String, Value>) {
        self.core.set_info_extra(extra);
    }
}
