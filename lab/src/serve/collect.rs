//! Frames of one packet, gathered from every tap, become one trace.
//!
//! Frames are grouped by [`PacketKey`] (what no router or NAT rewrites). A
//! group is complete once no frame has joined it for [`QUIET`], or once it is
//! [`MAX_AGE`] old; then core's [`assemble`] orders it along the path. The
//! number of open groups and of frames per group is bounded, so a flood
//! costs dropped frames (counted), not memory.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use podnet_core::forward::capture::{assemble, Capture, PacketKey};
use podnet_core::lab_api::LiveTrace;
use podnet_core::topology::Cluster;

use super::capture::{Counters, Frame};
use crate::probe::now_us;

/// A packet is complete when no frame joined it for this long: every tap of
/// one path sees it within microseconds, so this is all slack.
pub const QUIET: Duration = Duration::from_millis(15);
/// …or when it is this old.
pub const MAX_AGE: Duration = Duration::from_millis(150);
/// At most this many packets assembled at once.
pub const MAX_OPEN: usize = 4096;
/// At most this many frames per packet (a real path has about ten).
pub const MAX_FRAMES: usize = 32;

struct Group {
    opened: Instant,
    touched: Instant,
    captures: Vec<Capture>,
    payload: Vec<u8>,
}

/// Groups frames into packets.
pub struct Collector {
    cluster: Cluster,
    open: HashMap<PacketKey, Group>,
    next_id: u64,
    counters: Arc<Counters>,
}

impl Collector {
    /// A collector for the lab modelled by `cluster`.
    pub fn new(cluster: Cluster, counters: Arc<Counters>) -> Collector {
        Collector {
            cluster,
            open: HashMap::new(),
            next_id: 1,
            counters,
        }
    }

    /// Adds a frame to its packet.
    pub fn push(&mut self, f: Frame, now: Instant) {
        let key = PacketKey::of(&f.frame, &f.payload);
        if !self.open.contains_key(&key) && self.open.len() >= MAX_OPEN {
            self.counters.dropped_open.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let g = self.open.entry(key).or_insert_with(|| Group {
            opened: now,
            touched: now,
            captures: Vec::new(),
            payload: f.payload.clone(),
        });
        g.touched = now;
        if g.captures.len() >= MAX_FRAMES {
            self.counters.dropped_open.fetch_add(1, Ordering::Relaxed);
            return;
        }
        g.captures.push(Capture {
            tap: f.tap,
            dir: f.dir,
            at_us: f.at_us,
            frame: f.frame,
            outer: f.outer,
        });
    }

    /// Packets now complete, oldest first.
    pub fn flush(&mut self, now: Instant) -> Vec<LiveTrace> {
        let done: Vec<PacketKey> = self
            .open
            .iter()
            .filter(|(_, g)| {
                now.duration_since(g.touched) >= QUIET || now.duration_since(g.opened) >= MAX_AGE
            })
            .map(|(k, _)| *k)
            .collect();
        let mut out = Vec::with_capacity(done.len());
        for key in done {
            let Some(g) = self.open.remove(&key) else {
                continue;
            };
            let Some(trace) = assemble(&self.cluster, &g.captures, g.payload) else {
                continue;
            };
            let first_us = g.captures.iter().map(|c| c.at_us).min().unwrap_or(0);
            let last_us = g.captures.iter().map(|c| c.at_us).max().unwrap_or(0);
            out.push(LiveTrace {
                id: 0,
                first_us,
                last_us,
                assembled_us: now_us(),
                frames: g.captures.len(),
                trace,
            });
        }
        out.sort_by_key(|t| t.first_us);
        for t in &mut out {
            t.id = self.next_id;
            self.next_id += 1;
        }
        self.counters
            .traces
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        out
    }

    /// Packets being assembled.
    pub fn open(&self) -> usize {
        self.open.len()
    }
}
