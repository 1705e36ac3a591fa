//! Recording a room's full mix as a 16-bit PCM WAV file (Janus `record_file`).
//!
//! The mixing task must not wait on a disk, so frames go through a bounded channel to a
//! writer thread owned by the recorder; a full channel drops the frame (counted). The header
//! is written with zero sizes and patched when the recording ends (recorder dropped), so a
//! file cut short by a crash still holds its samples.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::thread::JoinHandle;

/// Frames queued for the writer (5 s of 20 ms frames).
const QUEUE: usize = 250;

/// A running recording; dropping it finishes the file.
#[derive(Debug)]
pub struct WavRecorder {
    tx: Option<SyncSender<Vec<i16>>>,
    thread: Option<JoinHandle<()>>,
    /// Frames dropped because the writer fell behind.
    pub dropped: u64,
}

impl WavRecorder {
    /// Starts a writer thread creating `path` (errors are logged by the thread: the room
    /// mixes on without a recording).
    pub fn start(path: PathBuf, rate: u32, channels: u16) -> io::Result<Self> {
        let (tx, rx) = sync_channel::<Vec<i16>>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("ianus-mix-wav".into())
            .spawn(move || {
                if let Err(e) = write_wav(&path, rate, channels, rx.iter()) {
                    tracing::warn!(path = %path.display(), error = %e, "mix recording failed");
                }
            })?;
        Ok(WavRecorder {
            tx: Some(tx),
            thread: Some(thread),
            dropped: 0,
        })
    }

    /// Queues one frame (copied).
    pub fn push(&mut self, pcm: &[i16]) {
        let Some(tx) = &self.tx else {
            return;
        };
        match tx.try_send(pcm.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.dropped += 1,
            Err(TrySendError::Disconnected(_)) => self.tx = None,
        }
    }
}

impl WavRecorder {
    /// Ends the recording and waits for the file to be complete (dropping the recorder ends
    /// it without waiting: what the mixing task does).
    pub fn finish(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(rate: u32, channels: u16, data_len: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    let block = channels * 2;
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * u32::from(block)).to_le_bytes());
    h[32..34].copy_from_slice(&block.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

fn write_wav(
    path: &PathBuf,
    rate: u32,
    channels: u16,
    frames: impl Iterator<Item = Vec<i16>>,
) -> io::Result<()> {
    let mut f = BufWriter::new(File::create(path)?);
    f.write_all(&header(rate, channels, 0))?;
    let mut data_len: u64 = 0;
    let mut bytes = Vec::new();
    for frame in frames {
        bytes.clear();
        bytes.extend(frame.iter().flat_map(|s| s.to_le_bytes()));
        f.write_all(&bytes)?;
        data_len += bytes.len() as u64;
    }
    let data_len = u32::try_from(data_len).unwrap_or(u32::MAX - 36);
    let mut f = f.into_inner().map_err(|e| e.into_error())?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&header(rate, channels, data_len))?;
    f.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_playable_header_and_the_samples() {
        let path = std::env::temp_dir().join(format!("ianus-wav-{}.wav", std::process::id()));
        let mut r = WavRecorder::start(path.clone(), 16_000, 1).unwrap();
        r.push(&[1, -2, 3]);
        r.push(&[4]);
        r.finish();
        let b = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(&b[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes([b[4], b[5], b[6], b[7]]), 36 + 8);
        assert_eq!(u32::from_le_bytes([b[24], b[25], b[26], b[27]]), 16_000);
        assert_eq!(u32::from_le_bytes([b[40], b[41], b[42], b[43]]), 8);
        assert_eq!(&b[44..], &[1, 0, 0xfe, 0xff, 3, 0, 4, 0]);
    }
}
