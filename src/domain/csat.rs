//! Satisfaction ratings asked in text: Messenger and WhatsApp have no rating widget, so a closed
//! conversation asks [`CSAT_QUESTION`] and a reply that starts with 1–5 is the rating.

/// Longest comment kept with a rating (the widget's limit too).
pub const MAX_CSAT_COMMENT_CHARS: usize = 1000;

/// What a closed Messenger or WhatsApp conversation asks, once.
pub const CSAT_QUESTION: &str = "How would you rate this conversation? Reply with a number from 1 (poor) to 5 \
                                 (excellent); you can add a comment after the number.";

/// The client id of the question: a second close of the same conversation is a duplicate, never sent.
pub const CSAT_QUESTION_ID: &str = "csat-question";

/// A channel reply read as a rating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsatReply {
    /// 1 to 5.
    pub rating: i64,
    /// The text after the number, trimmed; `None` when there is none.
    pub comment: Option<String>,
}

impl CsatReply {
    /// Reads a reply that starts with a digit from 1 to 5 standing alone ("4", "5 thanks!", "3 - slow",
    /// "5/5"): the rest is the comment, cut to [`MAX_CSAT_COMMENT_CHARS`]. `None` for anything else
    /// ("10", "2.5", "thanks"), which stays a message.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim_start();
        let mut chars = text.chars();
        let digit = chars.next()?;
        let rating = i64::from(digit.to_digit(10).filter(|d| (1..=5).contains(d))?);
        let rest = chars.as_str();
        // "10", "3.5" and "4,5" are numbers of their own, not a rating.
        let mut after = rest.chars();
        match (after.next(), after.next()) {
            (Some(c), _) if c.is_ascii_digit() => return None,
            (Some('.' | ','), Some(c)) if c.is_ascii_digit() => return None,
            _ => {}
        }
        let rest = rest.trim_start();
        let rest = rest.strip_prefix("/5").unwrap_or(rest);
        let comment: String = rest
            .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '-' | ':' | ',' | '.' | '!' | '–' | '—'))
            .trim_end()
            .replace('\0', "")
            .chars()
            .take(MAX_CSAT_COMMENT_CHARS)
            .collect();
        Some(Self { rating, comment: Some(comment).filter(|c| !c.is_empty()) })
    }
}

#[cfg(test)]
mod tests {
    use super::CsatReply;

    fn read(text: &str) -> Option<(i64, Option<String>)> {
        CsatReply::parse(text).map(|reply| (reply.rating, reply.comment))
    }

    #[test]
    fn a_leading_digit_from_one_to_five_is_a_rating() {
        assert_eq!(read("5"), Some((5, None)));
        assert_eq!(read("  4 "), Some((4, None)));
        assert_eq!(read("4 quick and kind"), Some((4, Some("quick and kind".into()))));
        assert_eq!(read("3 - slow answer"), Some((3, Some("slow answer".into()))));
        assert_eq!(read("5/5 great"), Some((5, Some("great".into()))));
        assert_eq!(read("2."), Some((2, None)));
        assert_eq!(read("1!"), Some((1, None)));
    }

    #[test]
    fn other_replies_stay_messages() {
        for text in ["", "thanks", "0", "6", "10", "3.5", "4,5", "12345", "five"] {
            assert_eq!(read(text), None, "{text}");
        }
    }

    #[test]
    fn long_comments_are_cut() {
        let long = format!("5 {}", "a".repeat(2_000));
        assert_eq!(CsatReply::parse(&long).and_then(|r| r.comment).map(|c| c.chars().count()), Some(1000));
    }
}
