//! A tenant's widget settings: look, greeting, and which UTM parameters to capture.

use super::ParseError;
use serde::{Deserialize, Serialize};

/// Where the chat bubble sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    /// Bottom right corner (the default).
    #[default]
    BottomRight,
    /// Bottom left corner.
    BottomLeft,
}

/// Which URL parameters and context the widget stores with a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct UtmCapture {
    /// `utm_source`.
    pub capture_source: bool,
    /// `utm_medium`.
    pub capture_medium: bool,
    /// `utm_campaign`.
    pub capture_campaign: bool,
    /// `utm_term`.
    pub capture_term: bool,
    /// `utm_content`.
    pub capture_content: bool,
    /// Whether `custom_params` are captured.
    pub capture_custom: bool,
    /// Extra parameters such as `gclid`, `fbclid`.
    #[schema(max_items = 20, inline, value_type = Vec<CustomParam>)]
    pub custom_params: Vec<String>,
    /// Host, page URL and referrer.
    pub append_page_context: bool,
    /// When the visitor arrived.
    pub append_timestamp: bool,
}

impl Default for UtmCapture {
    fn default() -> Self {
        Self {
            capture_source: true,
            capture_medium: true,
            capture_campaign: true,
            capture_term: true,
            capture_content: true,
            capture_custom: true,
            custom_params: vec!["gclid".into(), "fbclid".into(), "msclkid".into()],
            append_page_context: true,
            append_timestamp: true,
        }
    }
}

/// The whole widget configuration, as saved by the dashboard and read by `widget.js`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WidgetConfig {
    /// Panel title.
    #[schema(max_length = 100)]
    pub title: String,
    /// First line a visitor sees.
    #[schema(max_length = 500)]
    pub greeting: String,
    /// Bubble and header colour, `#rgb` or `#rrggbb`.
    #[schema(pattern = r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")]
    pub primary_color: String,
    /// Text colour on the primary colour.
    #[schema(pattern = r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")]
    pub text_color: String,
    /// Bubble corner.
    pub position: Position,
    /// UTM capture settings.
    pub utm: UtmCapture,
    /// The pre-chat / offline lead form.
    pub lead_form: super::LeadForm,
}

impl Default for WidgetConfig {
    fn default() -> Self {
        Self {
            title: "Chat with us".into(),
            greeting: "Hi! How can we help?".into(),
            primary_color: "#2563eb".into(),
            text_color: "#ffffff".into(),
            position: Position::BottomRight,
            utm: UtmCapture::default(),
            lead_form: super::LeadForm::default(),
        }
    }
}

impl WidgetConfig {
    /// Checks lengths, colours and parameter names.
    pub fn validate(self) -> Result<Self, ParseError> {
        check_len("title", &self.title, 100)?;
        check_len("greeting", &self.greeting, 500)?;
        check_color("primaryColor", &self.primary_color)?;
        check_color("textColor", &self.text_color)?;
        self.lead_form.validate()?;
        if self.utm.custom_params.len() > 20 {
            return Err(ParseError("utm.customParams takes at most 20 names".into()));
        }
        for name in &self.utm.custom_params {
            let ok = !name.is_empty()
                && name.len() <= 40
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(ParseError(format!("utm.customParams: '{name}' is not a parameter name")));
            }
        }
        Ok(self)
    }
}

fn check_len(field: &str, value: &str, max: usize) -> Result<(), ParseError> {
    if value.chars().count() > max {
        return Err(ParseError(format!("{field} is longer than {max} characters")));
    }
    Ok(())
}

fn check_color(field: &str, value: &str) -> Result<(), ParseError> {
    let hex = value.strip_prefix('#').unwrap_or("");
    if (hex.len() == 3 || hex.len() == 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ParseError(format!("{field} must be a colour like #2563eb, not '{value}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_colours_are_not() {
        assert!(WidgetConfig::default().validate().is_ok());
        let bad = WidgetConfig { primary_color: "blue".into(), ..WidgetConfig::default() };
        assert!(bad.validate().is_err());
    }
}

/// A URL parameter name the widget may capture (only for the API schema).
#[derive(utoipa::ToSchema)]
#[schema(pattern = r"^[A-Za-z0-9_-]{1,40}$")]
#[allow(dead_code)] // describes the items of `custom_params`; never built
struct CustomParam(String);
