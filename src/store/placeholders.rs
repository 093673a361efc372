//! Numbered `$n` placeholders for statements built at run time (multi-row `VALUES`, `IN` lists, `CASE`/`OR`ed keys).

/// `($1, $2), ($3, $4)`: the placeholders of a multi-row `VALUES` of `rows` rows of `columns` columns.
pub(super) fn values_placeholders(rows: usize, columns: usize) -> String {
    let row = |r: usize| {
        let numbers: Vec<String> = (1..=columns).map(|c| format!("${}", r * columns + c)).collect();
        format!("({})", numbers.join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// `$1, $2, …, $n`: the placeholders of an `IN (…)` list of `n` values.
pub(super) fn list_placeholders(n: usize) -> String {
    list_placeholders_from(1, n)
}

/// `$first, …`: an `IN (…)` list of `n` values bound after `first - 1` others.
pub(super) fn list_placeholders_from(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Hands out `$1`, `$2`, … in order, for statements whose shape depends on their input.
#[derive(Debug, Default)]
pub(super) struct Placeholders {
    used: usize,
}

impl Placeholders {
    /// The next placeholder.
    pub(super) fn next(&mut self) -> String {
        self.used += 1;
        format!("${}", self.used)
    }
}
