//! Packet sockets: one per namespace, seeing every frame on its taps.
//!
//! Each namespace of the lab gets one `AF_PACKET`/`ETH_P_ALL` socket on a
//! thread of its own (a socket belongs to the namespace it was opened in).
//! The thread keeps IPv4 frames of known taps, parses their headers with
//! core (etherparse underneath) and hands them on through a bounded queue:
//! when the collector falls behind, frames are dropped and counted, never
//! buffered without limit. The kernel's own drops (socket buffer full) are
//! read from `PACKET_STATISTICS` and counted too.

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sys::socket::{
    recvmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessageOwned, LinkAddr, MsgFlags,
    SockFlag, SockProtocol, SockType,
};
use nix::sys::time::TimeVal;
use podnet_core::forward::capture::{Dir, Tap};
use podnet_core::forward::{parse_packet, Encap, FrameRepr};
use podnet_core::lab_api::CaptureStats;

use podnet_kernel::Netns;

/// The transport payload kept per frame: enough to show, little to copy.
const PAYLOAD_KEPT: usize = 64;
/// `PACKET_OUTGOING`: the frame was sent by this host.
const PACKET_OUTGOING: u8 = 4;

/// One frame as a tap saw it.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Where.
    pub tap: Tap,
    /// Which way.
    pub dir: Dir,
    /// Kernel timestamp, µs since the Unix epoch.
    pub at_us: u64,
    /// Headers (the inner ones of a VXLAN frame).
    pub frame: FrameRepr,
    /// The outer headers of a VXLAN frame.
    pub outer: Option<Encap>,
    /// The start of the transport payload.
    pub payload: Vec<u8>,
}

/// What the capture has done so far (all monotonic).
#[derive(Debug, Default)]
pub struct Counters {
    /// Frames read from the sockets.
    pub read: AtomicU64,
    /// Frames on a known tap, parsed and queued.
    pub captured: AtomicU64,
    /// Frames not for us: another device, not IPv4, or not parseable.
    pub ignored: AtomicU64,
    /// Dropped because the queue to the collector was full.
    pub dropped_queue: AtomicU64,
    /// Dropped by the kernel because a socket buffer was full.
    pub dropped_kernel: AtomicU64,
    /// Dropped because too many packets were open at once.
    pub dropped_open: AtomicU64,
    /// Traces assembled.
    pub traces: AtomicU64,
    /// Trace messages a slow WebSocket client missed.
    pub ws_lagged: AtomicU64,
}

impl Counters {
    /// The current values.
    pub fn snapshot(&self) -> CaptureStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CaptureStats {
            read: g(&self.read),
            captured: g(&self.captured),
            ignored: g(&self.ignored),
            dropped_queue: g(&self.dropped_queue),
            dropped_kernel: g(&self.dropped_kernel),
            dropped_open: g(&self.dropped_open),
            traces: g(&self.traces),
            ws_lagged: g(&self.ws_lagged),
        }
    }
}

fn open_socket() -> std::io::Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Packet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::EthAll,
    )?;
    setsockopt(&fd, sockopt::ReceiveTimestampns, &true)?;
    // Wake up now and then to notice `stop`.
    setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(0, 100_000))?;
    setsockopt(&fd, sockopt::RcvBuf, &(4 << 20))?;
    Ok(fd)
}

/// `PACKET_STATISTICS`: drops since the last call (reading resets them).
fn kernel_drops(fd: &OwnedFd) -> u64 {
    #[repr(C)]
    #[derive(Default)]
    struct TpacketStats {
        packets: u32,
        drops: u32,
    }
    let mut st = TpacketStats::default();
    let mut len = std::mem::size_of::<TpacketStats>() as nix::libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `st`, a plain C struct.
    let rc = unsafe {
        nix::libc::getsockopt(
            fd.as_raw_fd(),
            nix::libc::SOL_PACKET,
            nix::libc::PACKET_STATISTICS,
            (&mut st as *mut TpacketStats).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        u64::from(st.drops)
    } else {
        0
    }
}

/// One frame's bytes: the tap it belongs to, parsed, or `None` to ignore it.
pub fn decode(
    taps: &HashMap<usize, Tap>,
    ifindex: usize,
    pkttype: u8,
    at_us: u64,
    bytes: &[u8],
) -> Option<Frame> {
    let tap = *taps.get(&ifindex)?;
    if bytes.len() < 14 || bytes[12..14] != [0x08, 0x00] {
        return None;
    }
    // A VXLAN frame on the underlay is keyed and placed by the pod packet inside.
    let (frame, outer, payload) = parse_packet(bytes).ok()?;
    let dir = if pkttype == PACKET_OUTGOING {
        Dir::Out
    } else {
        Dir::In
    };
    Some(Frame {
        tap,
        dir,
        at_us,
        frame,
        outer,
        payload: payload[..payload.len().min(PAYLOAD_KEPT)].to_vec(),
    })
}

/// Starts capturing in `ns` on the devices in `taps` (by interface index).
/// Returns once the socket is open, so no frame sent afterwards is missed.
pub fn start(
    ns: Netns,
    taps: HashMap<usize, Tap>,
    tx: SyncSender<Frame>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let run = || match open_socket() {
            Ok(fd) => {
                let _ = ready_tx.send(Ok(()));
                capture(&fd, &taps, &tx, &counters, &stop);
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
            }
        };
        if let Err(e) = ns.run(run) {
            let _ = ready_tx.send(Err(std::io::Error::other(e.to_string())));
        }
    });
    match ready_rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::Error::other("the capture socket did not open")),
    }
}

/// Reads frames until `stop`, decodes the ones on a tap and queues them.
fn capture(
    fd: &OwnedFd,
    taps: &HashMap<usize, Tap>,
    tx: &SyncSender<Frame>,
    counters: &Counters,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 65536];
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let mut polls = 0u32;
    while !stop.load(Ordering::Relaxed) {
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(64) {
            counters
                .dropped_kernel
                .fetch_add(kernel_drops(fd), Ordering::Relaxed);
        }
        let Some((n, addr, at_us)) = receive(fd, &mut buf, &mut cmsg) else {
            continue;
        };
        counters.read.fetch_add(1, Ordering::Relaxed);
        let Some(addr) = addr else { continue };
        let frame = decode(taps, addr.ifindex(), addr.pkttype(), at_us, &buf[..n]);
        let Some(frame) = frame else {
            counters.ignored.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        match tx.try_send(frame) {
            Ok(()) => {
                counters.captured.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                counters.dropped_queue.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
    counters
        .dropped_kernel
        .fetch_add(kernel_drops(fd), Ordering::Relaxed);
}

/// One frame from the socket: its length, where it was seen and the
/// kernel's timestamp (µs since the Unix epoch; 0 if none came with it).
// nix's recvmsg takes the control-message buffer as a Vec.
#[allow(clippy::ptr_arg)]
fn receive(
    fd: &OwnedFd,
    buf: &mut [u8],
    cmsg: &mut Vec<u8>,
) -> Option<(usize, Option<LinkAddr>, u64)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<LinkAddr>(fd.as_raw_fd(), &mut iov, Some(cmsg), MsgFlags::empty()).ok()?;
    let mut at_us = 0;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmTimestampns(ts) = c {
                at_us = ts.tv_sec() as u64 * 1_000_000 + ts.tv_nsec() as u64 / 1_000;
            }
        }
    }
    Some((msg.bytes, msg.address, at_us))
}
