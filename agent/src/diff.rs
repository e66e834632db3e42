//! What to change in a route table: a pure function, so it is tested without a kernel.

use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

/// A route as far as reconciling cares: where to, via whom, and who owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteKey {
    /// Destination.
    pub dst: Ipv4Network,
    /// Gateway.
    pub via: Option<Ipv4Addr>,
    /// `rtm_protocol`.
    pub proto: u8,
}

/// The changes that bring the table to the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteDiff {
    /// Owned routes to add.
    pub add: Vec<(Ipv4Network, Ipv4Addr)>,
    /// Indexes into `current` of owned routes to delete (stale, or wrong gateway).
    pub remove: Vec<usize>,
    /// Planned destinations that another owner's route already covers: left alone.
    pub conflicts: Vec<(Ipv4Network, u8)>,
}

/// Compares the plan's owned routes with the table. Only routes tagged
/// `owner` are ever removed; a destination held by anyone else is reported,
/// never touched.
pub fn diff(desired: &[(Ipv4Network, Ipv4Addr)], current: &[RouteKey], owner: u8) -> RouteDiff {
    let mut d = RouteDiff::default();
    for (i, r) in current.iter().enumerate() {
        if r.proto == owner
            && !desired
                .iter()
                .any(|&(dst, via)| dst == r.dst && Some(via) == r.via)
        {
            d.remove.push(i);
        }
    }
    for &(dst, via) in desired {
        if let Some(other) = current.iter().find(|r| r.dst == dst && r.proto != owner) {
            d.conflicts.push((dst, other.proto));
        } else if !current
            .iter()
            .any(|r| r.dst == dst && r.via == Some(via) && r.proto == owner)
        {
            d.add.push((dst, via));
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Network {
        s.parse().unwrap()
    }

    #[test]
    fn adds_missing_removes_stale_and_never_touches_others() {
        let gw = |x: u8| Ipv4Addr::new(192, 168, 1, x);
        let current = [
            RouteKey {
                dst: net("10.244.2.0/24"),
                via: Some(gw(12)),
                proto: 150,
            },
            RouteKey {
                dst: net("10.244.3.0/24"),
                via: Some(gw(13)),
                proto: 150,
            },
            RouteKey {
                dst: net("10.244.4.0/24"),
                via: Some(gw(99)),
                proto: 150,
            },
            RouteKey {
                dst: net("10.99.0.0/24"),
                via: Some(gw(12)),
                proto: 4,
            },
            RouteKey {
                dst: net("10.244.5.0/24"),
                via: Some(gw(1)),
                proto: 4,
            },
        ];
        let desired = [
            (net("10.244.2.0/24"), gw(12)),
            (net("10.244.4.0/24"), gw(14)),
            (net("10.244.5.0/24"), gw(15)),
            (net("10.244.6.0/24"), gw(16)),
        ];
        let d = diff(&desired, &current, 150);
        assert_eq!(d.remove, [1, 2], "node 3 left; node 4 moved");
        assert_eq!(
            d.add,
            [
                (net("10.244.4.0/24"), gw(14)),
                (net("10.244.6.0/24"), gw(16))
            ]
        );
        assert_eq!(
            d.conflicts,
            [(net("10.244.5.0/24"), 4)],
            "an admin's static route wins"
        );
        assert_eq!(
            diff(&desired[..1], &current[..1], 150),
            RouteDiff::default(),
            "in sync: nothing to do"
        );
    }
}
