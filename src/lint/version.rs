//! I. Server versions with known row-security bugs.

use super::{Hit, LintContext};

/// Vulnerable when the major version is listed and the minor is below the fix;
/// `older` also flags majors older than every listed one.
fn vulnerable(server_version_num: i32, fixed: &[(i32, i32)], older: bool) -> bool {
    let (major, minor) = (server_version_num / 10000, server_version_num % 10000);
    match fixed.iter().find(|(m, _)| *m == major) {
        Some((_, fix)) => minor < *fix,
        None => older && fixed.iter().all(|(m, _)| major < *m),
    }
}

fn affected(cx: &LintContext<'_>, fixed: &[(i32, i32)], older: bool, what: &str) -> Vec<Hit> {
    let num = cx.catalog.server_version_num;
    if !vulnerable(num, fixed, older) {
        return Vec::new();
    }
    let (major, minor) = (num / 10000, num % 10000);
    vec![Hit::global(format!("PostgreSQL {major}.{minor} is affected: {what}"))]
}

pub(super) fn cve_2023_2455(cx: &LintContext<'_>) -> Vec<Hit> {
    affected(cx, &[(13, 11), (14, 8), (15, 3)], false, "policies may be applied for the wrong role in cached plans")
}

pub(super) fn cve_2023_39418(cx: &LintContext<'_>) -> Vec<Hit> {
    affected(cx, &[(15, 4)], false, "MERGE does not enforce UPDATE and SELECT policies")
}

pub(super) fn cve_2024_4317(cx: &LintContext<'_>) -> Vec<Hit> {
    affected(cx, &[(14, 12), (15, 7), (16, 3)], false, "pg_stats_ext exposes statistics of unreadable tables")
}

pub(super) fn cve_2024_10976(cx: &LintContext<'_>) -> Vec<Hit> {
    affected(
        cx,
        &[(13, 17), (14, 14), (15, 9), (16, 5), (17, 1)],
        true,
        "row security below subqueries disregards user ID changes",
    )
}

pub(super) fn cve_2025_8713(cx: &LintContext<'_>) -> Vec<Hit> {
    affected(
        cx,
        &[(13, 22), (14, 19), (15, 14), (16, 10), (17, 6)],
        true,
        "optimizer statistics leak sampled rows through partitions and views",
    )
}

#[cfg(test)]
mod tests {
    use super::vulnerable;

    // The version gate is exercised here on version numbers: a test cluster
    // cannot be an old minor release.
    #[test]
    fn fixed_minors_and_older_majors() {
        let cve_2023_2455 = [(13, 11), (14, 8), (15, 3)];
        assert!(vulnerable(150002, &cve_2023_2455, false));
        assert!(!vulnerable(150003, &cve_2023_2455, false));
        assert!(!vulnerable(160000, &cve_2023_2455, false));
        assert!(!vulnerable(120010, &cve_2023_2455, false));
        let cve_2024_10976 = [(13, 17), (14, 14), (15, 9), (16, 5), (17, 1)];
        assert!(vulnerable(170000, &cve_2024_10976, true));
        assert!(!vulnerable(170001, &cve_2024_10976, true));
        assert!(vulnerable(120020, &cve_2024_10976, true));
        assert!(!vulnerable(180000, &cve_2024_10976, true));
        assert!(!vulnerable(150018, &cve_2024_10976, true));
    }
}
