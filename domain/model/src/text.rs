//! Rules for the text users give: which characters a field may hold, and how text search folds
//! case, identically in every store.

use crate::ValidationError;

/// Refuses control characters in a one-line field (titles, tags): they cannot be stored by
/// every store (NUL in PostgreSQL) and have no place in a single line.
///
/// # Errors
/// A [`ValidationError`] about `field`.
pub fn check_line(field: &str, text: &str) -> Result<(), ValidationError> {
    if text.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "must not contain control characters"));
    }
    Ok(())
}

/// Refuses control characters other than newline and tab in a multi-line field (descriptions,
/// message contents).
///
/// # Errors
/// A [`ValidationError`] about `field`.
pub fn check_multiline(field: &str, text: &str) -> Result<(), ValidationError> {
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ValidationError::new(field, "must not contain control characters other than newline and tab"));
    }
    Ok(())
}

/// Refuses a JSON value holding a NUL character in any string or key (`jsonb` cannot store it).
///
/// # Errors
/// A [`ValidationError`] about `field`.
pub fn check_json(field: &str, value: &serde_json::Value) -> Result<(), ValidationError> {
    fn has_nul(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(has_nul),
            serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    if has_nul(value) {
        return Err(ValidationError::new(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// The form text search compares: every character lowercased by Unicode's default mapping,
/// with the combining diacritical marks (U+0300 to U+036F) that mapping or the input leaves on
/// their own dropped. So `İstanbul` (whose `İ` lowercases to `i` and a combining dot) is found
/// by `istanbul`, `ÉTÉ` by `été`, and a search for `Ä` finds `ä`. Both stores search the folded
/// title and description for the folded query.
pub fn fold_for_search(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).filter(|c| !('\u{300}'..='\u{36f}').contains(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_fields_refuse_every_control_character() {
        for bad in ["a\0b", "a\nb", "a\tb", "a\rb", "\u{7f}", "\u{85}", "\u{1b}[31m"] {
            assert!(check_line("title", bad).is_err(), "{bad:?}");
        }
        assert!(check_line("title", "Café ☕ İstanbul").is_ok());
    }

    #[test]
    fn multi_line_fields_keep_newlines_and_tabs_only() {
        assert!(check_multiline("description", "line 1\nline 2\tend").is_ok());
        for bad in ["a\0b", "a\rb", "\u{1b}[2J", "\u{7}"] {
            assert!(check_multiline("description", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_values_refuse_nul_anywhere() {
        assert!(check_json("context", &serde_json::json!({"a": ["ok", {"b": "x\u{0}"}]})).is_err());
        assert!(check_json("context", &serde_json::json!({"a\u{0}": 1})).is_err());
        assert!(check_json("context", &serde_json::json!({"a": ["ok", 1, null]})).is_ok());
    }

    #[test]
    fn folding_lowers_case_and_drops_loose_combining_marks() {
        assert_eq!(fold_for_search("İstanbul"), "istanbul");
        assert_eq!(fold_for_search("ÉTÉ Straße"), "été straße");
        assert_eq!(fold_for_search("e\u{301}"), "e");
        assert!(fold_for_search("Pay the RENT").contains(&fold_for_search("rent")));
    }
}
