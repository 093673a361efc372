//! Lead capture: the widget's pre-chat or offline form (what the tenant asks for) and a visitor's
//! validated answers (what is stored on the conversation and sent as `lead_capture`).

use super::{Email, ParseError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Custom fields a form may define.
pub const MAX_LEAD_FIELDS: usize = 10;
/// Longest answer to any field (name, phone, custom).
pub const MAX_LEAD_VALUE_CHARS: usize = 200;

/// One tenant-defined question of the form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeadField {
    /// The answer's key in the stored lead and the webhook (`company`, `order_id`).
    #[schema(pattern = r"^[a-z][a-z0-9_]{0,39}$")]
    pub key: String,
    /// What the form shows.
    #[schema(max_length = 100)]
    pub label: String,
    /// Whether the visitor must answer it.
    #[serde(default)]
    pub required: bool,
}

/// The widget's lead form: shown before the chat when `preChat` is on, and always outside business
/// hours (the offline form). The e-mail is always asked for and required: it is how the team answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LeadForm {
    /// Ask before the first message, even within business hours.
    pub pre_chat: bool,
    /// The name must be given.
    pub require_name: bool,
    /// Ask for a phone number.
    pub ask_phone: bool,
    /// The phone number must be given (implies `askPhone`).
    pub require_phone: bool,
    /// The tenant's own questions; their keys are distinct and none is `name`, `email` or `phone`.
    #[schema(max_items = 10)]
    pub custom_fields: Vec<LeadField>,
}

impl LeadForm {
    /// Checks the custom fields: at most [`MAX_LEAD_FIELDS`], well-formed and distinct keys, short labels.
    pub fn validate(&self) -> Result<(), ParseError> {
        if self.custom_fields.len() > MAX_LEAD_FIELDS {
            return Err(ParseError(format!("leadForm.customFields takes at most {MAX_LEAD_FIELDS} fields")));
        }
        for (i, field) in self.custom_fields.iter().enumerate() {
            let key_ok = field.key.len() <= 40
                && field.key.starts_with(|c: char| c.is_ascii_lowercase())
                && field.key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !key_ok || ["name", "email", "phone"].contains(&field.key.as_str()) {
                return Err(ParseError(format!("leadForm.customFields: '{}' is not a usable key", field.key)));
            }
            if self.custom_fields.iter().take(i).any(|other| other.key == field.key) {
                return Err(ParseError(format!("leadForm.customFields: '{}' appears twice", field.key)));
            }
            if field.label.chars().count() > 100 {
                return Err(ParseError("leadForm.customFields: a label is longer than 100 characters".into()));
            }
        }
        Ok(())
    }
}

/// What the visitor filled in, as sent.
#[derive(Debug, Clone, Default)]
pub struct LeadAnswers {
    /// Their name.
    pub name: Option<String>,
    /// Their e-mail address.
    pub email: Option<String>,
    /// Their phone number.
    pub phone: Option<String>,
    /// Answers to the custom fields, by key.
    pub fields: BTreeMap<String, String>,
}

/// Why a submission was refused: a stable code and a message the widget can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadRefusal {
    /// `missing_field`, `invalid_email`, `invalid_phone`, `unknown_field` or `field_too_long`.
    pub code: &'static str,
    /// What is wrong, naming the field.
    pub message: String,
}

fn refuse(code: &'static str, message: String) -> LeadRefusal {
    LeadRefusal { code, message }
}

/// A validated lead: what is stored on the conversation and sent as the `lead_capture` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// The visitor's name, when given.
    pub name: Option<String>,
    /// Their e-mail address (normalised).
    pub email: String,
    /// Their phone number (digits, with a leading `+` when given).
    pub phone: Option<String>,
    /// Custom answers, by the form's keys.
    pub fields: BTreeMap<String, String>,
}

impl Lead {
    /// Validates `answers` against the tenant's `form`: required fields present, a real e-mail, a
    /// phone of 6–20 digits, only the form's custom keys, nothing longer than [`MAX_LEAD_VALUE_CHARS`].
    pub fn parse(form: &LeadForm, answers: LeadAnswers) -> Result<Self, LeadRefusal> {
        let name = optional_text("name", answers.name)?;
        if form.require_name && name.is_none() {
            return Err(refuse("missing_field", "name is required".into()));
        }
        let email = optional_text("email", answers.email)?
            .ok_or_else(|| refuse("missing_field", "email is required".into()))?;
        let email = Email::parse(&email).map_err(|e| refuse("invalid_email", e.0))?;
        let phone = optional_text("phone", answers.phone)?.map(|p| parse_phone(&p)).transpose()?;
        if form.require_phone && phone.is_none() {
            return Err(refuse("missing_field", "phone is required".into()));
        }
        let mut fields = BTreeMap::new();
        for (key, value) in answers.fields {
            if !form.custom_fields.iter().any(|f| f.key == key) {
                return Err(refuse("unknown_field", format!("the form has no field '{key}'")));
            }
            if let Some(value) = optional_text(&key, Some(value))? {
                fields.insert(key, value);
            }
        }
        if let Some(missing) = form.custom_fields.iter().find(|f| f.required && !fields.contains_key(&f.key)) {
            return Err(refuse("missing_field", format!("{} is required", missing.key)));
        }
        Ok(Self { name, email: email.as_str().to_owned(), phone, fields })
    }
}

/// A trimmed answer, `None` when blank; refused when too long or carrying control characters.
fn optional_text(field: &str, value: Option<String>) -> Result<Option<String>, LeadRefusal> {
    let Some(value) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else { return Ok(None) };
    if value.chars().count() > MAX_LEAD_VALUE_CHARS {
        return Err(refuse("field_too_long", format!("{field} is limited to {MAX_LEAD_VALUE_CHARS} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(refuse("invalid_value", format!("{field} contains control characters")));
    }
    Ok(Some(value))
}

/// Keeps the digits (and a leading `+`) of a phone number written with spaces, dashes, dots or brackets.
fn parse_phone(raw: &str) -> Result<String, LeadRefusal> {
    let invalid = || refuse("invalid_phone", format!("'{raw}' is not a phone number"));
    let (plus, rest) = match raw.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", raw),
    };
    if !rest.chars().all(|c| c.is_ascii_digit() || " -.()".contains(c)) {
        return Err(invalid());
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    if !(6..=20).contains(&digits.len()) {
        return Err(invalid());
    }
    Ok(format!("{plus}{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> LeadForm {
        let company = LeadField { key: "company".into(), label: "Company".into(), required: true };
        LeadForm { require_name: true, custom_fields: vec![company], ..LeadForm::default() }
    }

    fn answers(email: &str) -> LeadAnswers {
        LeadAnswers {
            name: Some(" Ada ".into()),
            email: Some(email.into()),
            phone: Some("+49 (30) 123-456".into()),
            fields: BTreeMap::from([("company".to_owned(), "ACME".to_owned())]),
        }
    }

    #[test]
    fn a_complete_form_is_normalised() {
        let lead = Lead::parse(&form(), answers("Ada@Example.com"));
        let lead = lead.map_err(|e| e.message);
        assert_eq!(lead.as_ref().map(|l| l.email.as_str()), Ok("ada@example.com"));
        assert_eq!(lead.as_ref().map(|l| l.phone.clone()), Ok(Some("+4930123456".into())));
        assert_eq!(lead.map(|l| l.name), Ok(Some("Ada".into())));
    }

    #[test]
    fn each_problem_has_its_code() {
        let code = |a: LeadAnswers| Lead::parse(&form(), a).err().map(|e| e.code);
        assert_eq!(code(answers("nope")), Some("invalid_email"));
        assert_eq!(code(LeadAnswers { email: None, ..answers("") }), Some("missing_field"));
        assert_eq!(code(LeadAnswers { name: Some("  ".into()), ..answers("a@b.co") }), Some("missing_field"));
        assert_eq!(code(LeadAnswers { phone: Some("call me".into()), ..answers("a@b.co") }), Some("invalid_phone"));
        let extra = BTreeMap::from([("company".to_owned(), "x".to_owned()), ("age".to_owned(), "3".to_owned())]);
        assert_eq!(code(LeadAnswers { fields: extra, ..answers("a@b.co") }), Some("unknown_field"));
        assert_eq!(code(LeadAnswers { fields: BTreeMap::new(), ..answers("a@b.co") }), Some("missing_field"));
        assert_eq!(code(LeadAnswers { name: Some("x".repeat(201)), ..answers("a@b.co") }), Some("field_too_long"));
    }

    #[test]
    fn forms_refuse_reserved_and_repeated_keys() {
        let field = |key: &str| LeadField { key: key.into(), label: "x".into(), required: false };
        assert!(LeadForm { custom_fields: vec![field("email")], ..LeadForm::default() }.validate().is_err());
        assert!(LeadForm { custom_fields: vec![field("a"), field("a")], ..LeadForm::default() }.validate().is_err());
        assert!(LeadForm { custom_fields: vec![field("Bad")], ..LeadForm::default() }.validate().is_err());
        assert!(form().validate().is_ok());
    }
}
