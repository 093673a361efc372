//! Audit events as export files: NDJSON (one JSON object per line) and CSV (RFC 4180, a header row).

use crate::store::AuditEntry;

/// The CSV columns, in order.
const CSV_COLUMNS: [&str; 10] =
    ["id", "created_at", "license_key", "actor_kind", "actor_id", "action", "target", "ip", "user_agent", "metadata"];

/// One JSON object per line.
pub fn ndjson(entries: &[AuditEntry]) -> String {
    let mut out = String::new();
    for entry in entries {
        // Serializing a struct of strings, numbers and a JSON value cannot fail.
        out.push_str(&serde_json::to_string(entry).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// A header row, then one row per event; `metadata` is its JSON text.
pub fn csv(entries: &[AuditEntry]) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push_str("\r\n");
    for entry in entries {
        let (id, created_at, entry) = (&entry.id, entry.created_at, &entry.event);
        let cells = [
            id.clone(),
            created_at.to_string(),
            entry.license_key.as_ref().map(|k| k.to_string()).unwrap_or_default(),
            entry.actor_kind.as_str().to_owned(),
            entry.actor_id.clone().unwrap_or_default(),
            entry.action.as_str().to_owned(),
            entry.target.clone().unwrap_or_default(),
            entry.ip.clone().unwrap_or_default(),
            entry.user_agent.clone().unwrap_or_default(),
            entry.metadata.to_string(),
        ];
        let row: Vec<String> = cells.iter().map(|cell| csv_cell(cell)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Quotes a cell when it needs it, and defuses text a spreadsheet would run as a formula (clients
/// choose their `User-Agent`): such a cell starts with `'`.
fn csv_cell(raw: &str) -> String {
    let defused = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{raw}") } else { raw.to_owned() };
    if defused.contains([',', '"', '\n', '\r']) || defused.starts_with(' ') {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }
}
