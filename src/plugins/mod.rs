//! The plugin registry: package name → plugin instance.
//!
//! Plugins compose `signaling` (JSON, the [`Plugin`] trait) and `media_core` (through the
//! application's [`MediaHost`]). EchoTest is the smallest and the model for the others.

pub mod audiobridge;
pub mod echotest;
pub mod videoroom;

use std::sync::Arc;

use signaling::plugin::Plugin;

use crate::app::MediaHost;
use crate::config::PluginsConfig;

/// Builds every plugin not listed in `disable`.
pub fn load(config: &PluginsConfig, host: Arc<MediaHost>) -> Vec<Arc<dyn Plugin>> {
    let all: Vec<Arc<dyn Plugin>> = vec![
        echotest::EchoTest::new(host.clone()),
        videoroom::VideoRoom::new(&config.videoroom, host.clone()),
        audiobridge::AudioBridge::new(&config.audiobridge, host),
    ];
    all.into_iter()
        .filter(|p| !config.disable.iter().any(|d| d == p.info().package))
        .collect()
}

/// Validation helpers shared by plugins: Janus's texts for missing and mistyped elements
/// (plugins API §0.3).
pub mod validate {
    use serde_json::Value;

    /// What a body field must be.
    #[derive(Debug, Clone, Copy)]
    pub enum Kind {
        Bool,
        /// JSON integer ≥ 0 (Janus calls it "a positive integer").
        PositiveInt,
        Int,
        String,
    }

    impl Kind {
        fn text(self) -> &'static str {
            match self {
                Kind::Bool => "a boolean",
                Kind::PositiveInt => "a positive integer",
                Kind::Int => "an integer",
                Kind::String => "a string",
            }
        }

        fn accepts(self, v: &Value) -> bool {
            match self {
                Kind::Bool => v.is_boolean(),
                Kind::PositiveInt => v.is_u64(),
                Kind::Int => v.is_i64() || v.is_u64(),
                Kind::String => v.is_string(),
            }
        }
    }

    /// Checks optional fields' types; returns the Janus "Invalid element type" text on failure.
    pub fn optional(body: &Value, fields: &[(&str, Kind)]) -> Result<(), String> {
        for (name, kind) in fields {
            if let Some(v) = body.get(*name) {
                if !kind.accepts(v) {
                    return Err(format!(
                        "Invalid element type ({name} should be {})",
                        kind.text()
                    ));
                }
            }
        }
        Ok(())
    }
}
