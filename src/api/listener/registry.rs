//! The table of open client connections: the total and per-address caps, which
//! connections are idle (no request in flight) and since when, and shedding the
//! oldest idle one when a new connection needs its place.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The caps on open connections; 0 means no cap.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Open connections in all.
    pub total: usize,
    /// Open connections from one client address.
    pub per_ip: usize,
}

/// Why a new connection was refused: every connection it could replace is busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("all {0} connections are busy")]
    Total(usize),
    #[error("all {0} connections from this address are busy")]
    PerIp(usize),
}

/// What one connection shares with the registry and its own I/O: whether a request
/// is in flight, since when it is idle, when a request head began to arrive, and
/// whether it was told to close. Its task waits on `changed` for any of these.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    /// The client address group the per-address cap counts (see `address_group`).
    ip: IpAddr,
    epoch: Instant,
    in_flight: AtomicU32,
    /// Milliseconds since `epoch` when the last request ended (or the connection opened).
    idle_since_ms: AtomicU64,
    /// Milliseconds since `epoch` + 1 when the first byte of a request head arrived; 0: none.
    head_started_ms: AtomicU64,
    shed: AtomicBool,
    changed: Notify,
}

impl Slot {
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    /// Whether no request is in flight on this connection.
    pub fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// Records that bytes of a request head arrived while idle; the first such byte
    /// starts the header-read timer.
    pub fn note_head_bytes(&self) {
        if self.head_started_ms.load(Ordering::Relaxed) == 0 {
            self.head_started_ms.store(self.elapsed_ms().saturating_add(1), Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    /// Whether the registry told this connection to make room for a newer one.
    pub fn is_shed(&self) -> bool {
        self.shed.load(Ordering::Acquire)
    }

    /// Resolves when the slot's state changed (request ended, head began, shed).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// When this connection should be closed if nothing changes before then; `None`
    /// while a request is in flight (no timer may cut it).
    pub fn deadline(
        &self,
        header_read: Option<Duration>,
        keepalive_idle: Option<Duration>,
    ) -> Option<Instant> {
        if self.is_shed() {
            return Some(Instant::now());
        }
        if !self.is_idle() {
            return None;
        }
        match self.head_started_ms.load(Ordering::Relaxed) {
            0 => keepalive_idle.map(|idle| self.at(self.idle_since_ms.load(Ordering::Relaxed)) + idle),
            started => header_read.map(|limit| self.at(started - 1) + limit),
        }
    }
}

/// The open connections, guarded by one mutex held only for O(log n) updates.
pub struct Registry {
    caps: Caps,
    epoch: Instant,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    /// Orders idleness: a connection that becomes idle later gets a larger number.
    next_idle_seq: u64,
    conns: HashMap<u64, Entry>,
    /// Idle connections, oldest first, as (idle sequence, connection id).
    idle: BTreeSet<(u64, u64)>,
    per_ip: HashMap<IpAddr, PerIp>,
}

struct Entry {
    slot: Arc<Slot>,
    idle_seq: Option<u64>,
}

#[derive(Default)]
struct PerIp {
    open: usize,
    idle: BTreeSet<(u64, u64)>,
}

impl Registry {
    /// An empty table with these caps.
    pub fn new(caps: Caps) -> Arc<Registry> {
        Arc::new(Registry { caps, epoch: Instant::now(), table: Mutex::new(Table::default()) })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock leaves the table consistent (every update
        // is a few map operations), so a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many connections are open (shed ones no longer count).
    pub fn open(&self) -> usize {
        self.table().conns.len()
    }

    /// Admits a new connection from `ip`, shedding the oldest idle connection (of this
    /// address, then overall) when a cap is reached; refuses it if all are busy.
    pub fn admit(&self, ip: IpAddr) -> Result<Arc<Slot>, Refused> {
        let ip = address_group(ip);
        let mut table = self.table();
        let per_ip_open = table.per_ip.get(&ip).map_or(0, |entry| entry.open);
        if self.caps.per_ip > 0 && per_ip_open >= self.caps.per_ip {
            let victim = table.per_ip.get(&ip).and_then(|entry| entry.idle.first().copied());
            match victim {
                Some((_, id)) => table.shed(id),
                None => return Err(Refused::PerIp(self.caps.per_ip)),
            }
        }
        if self.caps.total > 0 && table.conns.len() >= self.caps.total {
            match table.idle.first().copied() {
                Some((_, id)) => table.shed(id),
                None => return Err(Refused::Total(self.caps.total)),
            }
        }
        let id = table.next_id;
        table.next_id += 1;
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let slot = Arc::new(Slot {
            id,
            ip,
            epoch: self.epoch,
            in_flight: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(now_ms),
            head_started_ms: AtomicU64::new(0),
            shed: AtomicBool::new(false),
            changed: Notify::new(),
        });
        table.conns.insert(id, Entry { slot: slot.clone(), idle_seq: None });
        table.per_ip.entry(ip).or_default().open += 1;
        table.mark_idle(id);
        Ok(slot)
    }

    /// Closes the oldest idle connection, if any, to free its descriptor (when
    /// accepting failed for want of one). Returns whether one was shed.
    pub fn shed_oldest_idle(&self) -> bool {
        let mut table = self.table();
        match table.idle.first().copied() {
            Some((_, id)) => {
                table.shed(id);
                true
            }
            None => false,
        }
    }

    /// A request began on the connection: it is no longer idle.
    pub fn begin_request(&self, slot: &Slot) {
        let mut table = self.table();
        if slot.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            slot.head_started_ms.store(0, Ordering::Relaxed);
            table.mark_busy(slot.id);
        }
    }

    /// A request ended (its response was sent or dropped): idle again if it was the last.
    pub fn end_request(&self, slot: &Slot) {
        let mut table = self.table();
        if slot.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            slot.idle_since_ms.store(slot.elapsed_ms(), Ordering::Relaxed);
            table.mark_idle(slot.id);
            slot.changed.notify_one();
        }
    }

    /// The connection closed: forget it (a shed one is already forgotten).
    pub fn close(&self, slot: &Slot) {
        self.table().remove(slot.id);
    }
}

/// The address a per-address cap counts by: an IPv4 address as it is (also when
/// mapped into IPv6), an IPv6 address by its /64, the smallest block a client
/// usually holds (one host can pick any address in it).
fn address_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

impl Table {
    fn mark_idle(&mut self, id: u64) {
        let seq = self.next_idle_seq;
        self.next_idle_seq += 1;
        let Some(entry) = self.conns.get_mut(&id) else { return };
        if entry.idle_seq.is_some() {
            return;
        }
        entry.idle_seq = Some(seq);
        let ip = entry.slot.ip;
        self.idle.insert((seq, id));
        self.per_ip.entry(ip).or_default().idle.insert((seq, id));
    }

    fn mark_busy(&mut self, id: u64) {
        let Some(entry) = self.conns.get_mut(&id) else { return };
        let Some(seq) = entry.idle_seq.take() else { return };
        let ip = entry.slot.ip;
        self.idle.remove(&(seq, id));
        if let Some(per_ip) = self.per_ip.get_mut(&ip) {
            per_ip.idle.remove(&(seq, id));
        }
    }

    /// Removes the connection from every count; its task closes it when woken.
    fn shed(&mut self, id: u64) {
        if let Some(slot) = self.remove(id) {
            slot.shed.store(true, Ordering::Release);
            slot.changed.notify_one();
        }
    }

    fn remove(&mut self, id: u64) -> Option<Arc<Slot>> {
        let entry = self.conns.remove(&id)?;
        let ip = entry.slot.ip;
        if let Some(seq) = entry.idle_seq {
            self.idle.remove(&(seq, id));
        }
        if let Some(per_ip) = self.per_ip.get_mut(&ip) {
            if let Some(seq) = entry.idle_seq {
                per_ip.idle.remove(&(seq, id));
            }
            per_ip.open = per_ip.open.saturating_sub(1);
            if per_ip.open == 0 {
                self.per_ip.remove(&ip);
            }
        }
        Some(entry.slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_full_table_sheds_the_oldest_idle_connection() {
        let registry = Registry::new(Caps { total: 3, per_ip: 0 });
        let a = registry.admit(ip(1)).unwrap();
        let b = registry.admit(ip(2)).unwrap();
        let c = registry.admit(ip(3)).unwrap();
        registry.begin_request(&a);
        let d = registry.admit(ip(4)).unwrap();
        assert!(!a.is_shed(), "a busy connection is never shed");
        assert!(b.is_shed(), "the oldest idle one goes first");
        assert!(!c.is_shed() && !d.is_shed());
        assert_eq!(registry.open(), 3);
        // c becomes busy then idle again: it is now younger than d.
        registry.begin_request(&c);
        registry.end_request(&c);
        registry.admit(ip(5)).unwrap();
        assert!(d.is_shed() && !c.is_shed());
    }

    #[test]
    fn out_of_descriptors_sheds_the_oldest_idle_connection() {
        let registry = Registry::new(Caps { total: 0, per_ip: 0 });
        let busy = registry.admit(ip(1)).unwrap();
        registry.begin_request(&busy);
        let idle = registry.admit(ip(2)).unwrap();
        assert!(registry.shed_oldest_idle());
        assert!(idle.is_shed() && !busy.is_shed());
        assert!(!registry.shed_oldest_idle(), "a busy connection is never shed");
    }

    #[test]
    fn a_table_of_busy_connections_refuses_newcomers() {
        let registry = Registry::new(Caps { total: 2, per_ip: 0 });
        for n in 0..2 {
            let slot = registry.admit(ip(n)).unwrap();
            registry.begin_request(&slot);
        }
        assert_eq!(registry.admit(ip(9)).unwrap_err(), Refused::Total(2));
    }

    #[test]
    fn the_per_address_cap_sheds_within_that_address_only() {
        let registry = Registry::new(Caps { total: 0, per_ip: 2 });
        let other = registry.admit(ip(2)).unwrap();
        let first = registry.admit(ip(1)).unwrap();
        let second = registry.admit(ip(1)).unwrap();
        registry.admit(ip(1)).unwrap();
        assert!(first.is_shed(), "the address's oldest idle connection goes");
        assert!(!other.is_shed(), "another address's older connection stays");
        registry.begin_request(&second);
        let third = registry.admit(ip(1)).unwrap_or_else(|e| panic!("{e}"));
        registry.begin_request(&third);
        assert!(!second.is_shed());
        assert_eq!(registry.admit(ip(1)).unwrap_err(), Refused::PerIp(2));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_slash_64() {
        let registry = Registry::new(Caps { total: 0, per_ip: 1 });
        let first: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_block: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_block: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let slot = registry.admit(first).unwrap();
        registry.begin_request(&slot);
        assert_eq!(registry.admit(same_block).unwrap_err(), Refused::PerIp(1));
        registry.admit(other_block).unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let v4 = registry.admit(mapped).unwrap();
        registry.begin_request(&v4);
        assert_eq!(registry.admit(ip(1)).unwrap_err(), Refused::PerIp(1), "a mapped address is its IPv4 one");
    }

    #[test]
    fn closing_frees_the_place_and_the_address_entry() {
        let registry = Registry::new(Caps { total: 1, per_ip: 1 });
        let slot = registry.admit(ip(1)).unwrap();
        registry.begin_request(&slot);
        registry.close(&slot);
        assert_eq!(registry.open(), 0);
        assert!(registry.table().per_ip.is_empty());
        registry.admit(ip(1)).unwrap();
    }

    #[test]
    fn timers_follow_the_state() {
        let registry = Registry::new(Caps { total: 0, per_ip: 0 });
        let slot = registry.admit(ip(1)).unwrap();
        let (head, idle) = (Some(Duration::from_secs(2)), Some(Duration::from_secs(60)));
        let idle_deadline = slot.deadline(head, idle).unwrap();
        assert!(idle_deadline > Instant::now() + Duration::from_secs(50));
        slot.note_head_bytes();
        let head_deadline = slot.deadline(head, idle).unwrap();
        assert!(head_deadline < Instant::now() + Duration::from_secs(3));
        registry.begin_request(&slot);
        assert_eq!(slot.deadline(head, idle), None, "no timer runs while a request is in flight");
        registry.end_request(&slot);
        assert!(slot.deadline(head, idle).unwrap() > Instant::now() + Duration::from_secs(50));
    }
}
