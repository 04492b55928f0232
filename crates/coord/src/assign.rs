//! Elastic shard assignment: every gateway replica computes the same share of the shards from
//! the same set of live members, with rendezvous (highest random weight) hashing bounded to
//! `ceil(shards / members)` shards per member. The share is fair, and a member joining or
//! leaving moves few shards (about `shards / members`), not all of them.

use std::collections::BTreeMap;

/// A stable 64-bit hash of `member` (FNV-1a): the same in every process and Rust version.
fn member_hash(member: &str) -> u64 {
    member.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The weight of `member` (its [`member_hash`]) for `shard_id`: splitmix64 of both.
fn weight(member: u64, shard_id: u32) -> u64 {
    let mut z = member ^ u64::from(shard_id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Assigns shards `0..total` to `members` (duplicates ignored, order irrelevant): each shard
/// goes to the member with the highest weight for it among those holding fewer than
/// `ceil(total / members)` shards, shards taken in order. Every member appears in the map,
/// possibly with no shard (more members than shards).
pub fn assign<S: AsRef<str>>(members: &[S], total: u32) -> BTreeMap<String, Vec<u32>> {
    let mut shares: BTreeMap<String, Vec<u32>> = members
        .iter()
        .map(|m| (m.as_ref().to_owned(), Vec::new()))
        .collect();
    if shares.is_empty() {
        return shares;
    }
    let hashed: Vec<(String, u64)> = shares.keys().map(|m| (m.clone(), member_hash(m))).collect();
    let count = u32::try_from(hashed.len()).unwrap_or(u32::MAX);
    let cap = usize::try_from(total.div_ceil(count)).unwrap_or(usize::MAX);
    let mut ranked: Vec<(u64, &str)> = Vec::with_capacity(hashed.len());
    for shard_id in 0..total {
        ranked.clear();
        ranked.extend(
            hashed
                .iter()
                .map(|(m, h)| (weight(*h, shard_id), m.as_str())),
        );
        // Highest weight first; ties (practically impossible) by name.
        ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        for (_, member) in &ranked {
            let share = shares.get_mut(*member).expect("every member has a share");
            if share.len() < cap {
                share.push(shard_id);
                break;
            }
        }
    }
    shares
}

/// The shards `member`'s share holds (empty when it is not among `members`).
pub fn share_of<S: AsRef<str>>(members: &[S], total: u32, member: &str) -> Vec<u32> {
    assign(members, total).remove(member).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("gw-{i}")).collect()
    }

    fn moved(before: &BTreeMap<String, Vec<u32>>, after: &BTreeMap<String, Vec<u32>>) -> usize {
        let owner = |map: &BTreeMap<String, Vec<u32>>, shard: u32| {
            map.iter()
                .find(|(_, s)| s.contains(&shard))
                .map(|(m, _)| m.clone())
        };
        let total = before.values().map(Vec::len).sum::<usize>();
        (0..u32::try_from(total).unwrap())
            .filter(|s| owner(before, *s) != owner(after, *s))
            .count()
    }

    #[test]
    fn every_shard_once_and_no_member_above_its_fair_share() {
        for total in [1, 2, 7, 12, 100, 1000] {
            for members in 1..=9 {
                let shares = assign(&names(members), total);
                assert_eq!(shares.len(), members);
                let mut all: Vec<u32> = shares.values().flatten().copied().collect();
                all.sort_unstable();
                assert_eq!(all, (0..total).collect::<Vec<_>>(), "{total}/{members}");
                let cap = total.div_ceil(u32::try_from(members).unwrap()) as usize;
                assert!(shares.values().all(|s| s.len() <= cap), "{total}/{members}");
            }
        }
    }

    #[test]
    fn the_same_members_in_any_order_give_the_same_shares() {
        let mut members = names(5);
        let first = assign(&members, 64);
        members.reverse();
        members.push("gw-2".to_owned());
        assert_eq!(assign(&members, 64), first);
        assert_eq!(share_of(&members, 64, "gw-3"), first["gw-3"]);
        assert!(share_of(&members, 64, "gw-9").is_empty());
        assert!(assign::<String>(&[], 4).is_empty());
    }

    #[test]
    fn a_member_joining_or_leaving_moves_few_shards() {
        let three = assign(&names(3), 12);
        let four = assign(&names(4), 12);
        let two = assign(&names(2), 12);
        // The ideal is 3 (the newcomer's share) and 4 (the leaver's share).
        assert!(
            moved(&three, &four) <= 5,
            "3 → 4 moved {}",
            moved(&three, &four)
        );
        assert!(
            moved(&four, &two) <= 8,
            "4 → 2 moved {}",
            moved(&four, &two)
        );
        let big = assign(&names(10), 1000);
        let bigger = assign(&names(11), 1000);
        assert!(moved(&big, &bigger) <= 200, "{}", moved(&big, &bigger));
    }

    #[test]
    fn more_members_than_shards_leaves_some_members_idle() {
        let shares = assign(&names(5), 3);
        assert_eq!(shares.values().filter(|s| s.is_empty()).count(), 2);
        assert!(shares.values().all(|s| s.len() <= 1));
    }
}
