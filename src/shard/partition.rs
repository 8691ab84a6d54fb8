//! Which relations each shard probes. Relations whose probes read or
//! write each other's rows stay together: a partition with its parent, a
//! view with the tables it reads, a table with the tenant tables its foreign
//! keys reference (a child with its parent). The groups go, largest first and
//! then by name, to the least-loaded shard. Only names decide, never oids,
//! so every machine of a CI matrix computes the same split.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::{Catalog, RelId};
use crate::ownership::{Owner, Ownership};

use super::Shard;

/// The relations of one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Which shard.
    pub shard: Shard,
    /// Its relations (what [`crate::probe::Schema::only`] selects).
    pub relations: BTreeSet<RelId>,
    /// The same, by qualified name, sorted.
    pub names: Vec<String>,
}

/// The relations of `shard` among every relation of `catalog`.
pub fn partition(catalog: &Catalog, ownership: &Ownership, shard: Shard) -> Partition {
    let rels = &catalog.relations;
    let index: BTreeMap<RelId, usize> = rels.iter().enumerate().map(|(i, r)| (r.oid, i)).collect();
    // The tenant root is referenced by nearly every table: an edge to it would
    // put the whole schema in one group.
    let groupable = |oid: RelId| !matches!(ownership.owner(oid), Some(Owner::Root { .. }) | None);
    let mut edges = Vec::new();
    for (i, r) in rels.iter().enumerate() {
        let mut link = |other: RelId| {
            if let Some(&j) = index.get(&other) {
                edges.push((i, j));
            }
        };
        if let Some(parent) = r.parent {
            link(parent);
        }
        for base in &r.depends_on {
            link(*base);
        }
        let tenant = |oid: RelId| ownership.owner(oid).is_some_and(Owner::is_tenant_owned);
        if groupable(r.oid) && tenant(r.oid) {
            for fk in r.foreign_keys.iter().filter(|fk| groupable(fk.target) && tenant(fk.target)) {
                link(fk.target);
            }
        }
    }
    let names: Vec<&str> = rels.iter().map(|r| r.qualified.as_str()).collect();
    let owners = assign(&names, &edges, shard.count);
    let mine: Vec<usize> = (0..rels.len()).filter(|&i| owners[i] == shard.index).collect();
    let mut names: Vec<String> = mine.iter().map(|&i| rels[i].qualified.clone()).collect();
    names.sort();
    Partition { shard, relations: mine.iter().map(|&i| rels[i].oid).collect(), names }
}

/// The shard (1-based) of each of `names`, given the pairs that must share
/// one: union-find over the pairs, then the groups, largest first and by
/// their smallest name, each to the shard with the fewest relations so far
/// (the lowest-numbered on a tie).
pub fn assign(names: &[&str], together: &[(usize, usize)], count: u32) -> Vec<u32> {
    let mut parent: Vec<usize> = (0..names.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for &(a, b) in together {
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..names.len() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let mut groups: Vec<(&str, Vec<usize>)> = groups
        .into_values()
        .map(|members| (members.iter().map(|&i| names[i]).min().unwrap_or_default(), members))
        .collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(b.0)));
    let count = count.max(1);
    let mut load = vec![0usize; count as usize];
    let mut out = vec![0u32; names.len()];
    for (_, members) in groups {
        let lightest = (0..load.len()).min_by_key(|&s| (load[s], s)).unwrap_or(0);
        load[lightest] += members.len();
        for i in members {
            out[i] = lightest as u32 + 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::assign;

    /// parent a <- child a_items <- grandchild a_notes; b with partitions;
    /// a view over c; loose tables d..g.
    fn schema() -> (Vec<&'static str>, Vec<(usize, usize)>) {
        let names = vec!["a", "a_items", "a_notes", "b", "b_p0", "b_p1", "c", "c_view", "d", "e", "f", "g"];
        let edges = vec![(1, 0), (2, 1), (4, 3), (5, 3), (7, 6)];
        (names, edges)
    }

    #[test]
    fn children_stay_with_their_parents() {
        let (names, edges) = schema();
        for n in 1..=5 {
            let owners = assign(&names, &edges, n);
            for &(child, parent) in &edges {
                assert_eq!(
                    owners[child], owners[parent],
                    "{} and {} split over {n} shards",
                    names[child], names[parent]
                );
            }
            assert!(owners.iter().all(|&s| (1..=n).contains(&s)));
        }
    }

    #[test]
    fn the_split_is_balanced_and_deterministic() {
        let (names, edges) = schema();
        let owners = assign(&names, &edges, 3);
        assert_eq!(owners, assign(&names, &edges, 3), "same input, same split");
        // The order the edges come in does not matter.
        let reversed: Vec<(usize, usize)> = edges.iter().rev().map(|&(a, b)| (b, a)).collect();
        assert_eq!(owners, assign(&names, &reversed, 3));
        let load = |s: u32| owners.iter().filter(|&&o| o == s).count();
        assert_eq!((load(1), load(2), load(3)), (4, 4, 4), "{owners:?}");
        // Groups of 3, 3, 2, then singles: the largest go first, by name.
        assert_eq!(&owners[..8], &[1, 1, 1, 2, 2, 2, 3, 3]);
    }

    #[test]
    fn one_shard_owns_everything() {
        let (names, edges) = schema();
        assert!(assign(&names, &edges, 1).iter().all(|&s| s == 1));
    }
}
