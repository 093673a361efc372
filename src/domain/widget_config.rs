//! A tenant's widget settings: look, greeting, who answers, when the widget opens by itself, and
//! which UTM parameters to capture.

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
    /// The name the visitor sees in the header and on the greeting ("" shows the title).
    #[schema(max_length = 60)]
    pub agent_name: String,
    /// The header's avatar: an https URL, or "" for the initials.
    #[schema(max_length = 500, pattern = r"^(https://[^\s]+)?$")]
    pub avatar_url: String,
    /// The availability subtitle ("usually replies in a few minutes").
    pub reply_time: ReplyTime,
    /// Light, dark, or following the visitor's system (`auto`).
    pub theme: Theme,
    /// When the widget shows and opens by itself.
    pub behavior: Behavior,
    /// The pre-chat / offline lead form.
    pub lead_form: super::LeadForm,
}

/// How quickly the team usually answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplyTime {
    /// "usually replies in a few minutes".
    #[default]
    Minutes,
    /// "usually replies in a few hours".
    Hours,
    /// "usually replies within a day".
    Day,
}

/// The widget's colour scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Follows `prefers-color-scheme`.
    #[default]
    Auto,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

/// When the widget shows, and when it opens without a click.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Behavior {
    /// Seconds before the launcher appears.
    #[schema(minimum = 0, maximum = 600)]
    #[serde(deserialize_with = "whole")]
    pub open_delay_seconds: u32,
    /// Opens the panel after this many seconds on the page.
    #[schema(minimum = 1, maximum = 3600)]
    #[serde(deserialize_with = "optional_whole")]
    pub auto_open_after_seconds: Option<u32>,
    /// Opens the panel once the visitor scrolled this far down (percent).
    #[schema(minimum = 1, maximum = 100)]
    #[serde(deserialize_with = "optional_whole")]
    pub auto_open_scroll_percent: Option<u32>,
    /// Opens the panel when the pointer leaves the page towards the browser's bar.
    pub auto_open_on_exit_intent: bool,
    /// Opens by itself at most once per visitor per this many hours (0: no cap).
    #[schema(minimum = 0, maximum = 720)]
    #[serde(deserialize_with = "whole")]
    pub frequency_cap_hours: u32,
    /// Shows the widget only on pages matching one of these (`*` matches anything); empty: everywhere.
    #[schema(max_items = 20, inline, value_type = Vec<UrlPattern>)]
    pub show_on_urls: Vec<String>,
    /// Never shows the widget on pages matching one of these.
    #[schema(max_items = 20, inline, value_type = Vec<UrlPattern>)]
    pub hide_on_urls: Vec<String>,
}

impl Behavior {
    fn validate(&self) -> Result<(), ParseError> {
        check_range("behavior.openDelaySeconds", Some(self.open_delay_seconds), 0, 600)?;
        check_range("behavior.autoOpenAfterSeconds", self.auto_open_after_seconds, 1, 3600)?;
        check_range("behavior.autoOpenScrollPercent", self.auto_open_scroll_percent, 1, 100)?;
        check_range("behavior.frequencyCapHours", Some(self.frequency_cap_hours), 0, 720)?;
        for (field, patterns) in
            [("behavior.showOnUrls", &self.show_on_urls), ("behavior.hideOnUrls", &self.hide_on_urls)]
        {
            if patterns.len() > 20 {
                return Err(ParseError(format!("{field} takes at most 20 patterns")));
            }
            if let Some(bad) = patterns.iter().find(|p| !is_url_pattern(p)) {
                return Err(ParseError(format!(
                    "{field}: '{bad}' is not a URL pattern (a path such as /pricing or /blog/*, at most 200 characters)"
                )));
            }
        }
        Ok(())
    }
}

/// A whole number, also when written `5.0` (JSON Schema's integers include it).
fn whole<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = number.as_u64().or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64));
    whole
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number from 0, not {number}")))
}

/// [`whole`], or `null`.
fn optional_whole<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole")] u32);
    Ok(Option::<Whole>::deserialize(deserializer)?.map(|Whole(n)| n))
}

/// A path (and query) pattern: starts with `/` or `*`, no spaces or control characters, at most 200
/// characters (the schema's [`UrlPattern`] says the same).
fn is_url_pattern(raw: &str) -> bool {
    (raw.starts_with('/') || raw.starts_with('*'))
        && raw.chars().count() <= 200
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn check_range(field: &str, value: Option<u32>, min: u32, max: u32) -> Result<(), ParseError> {
    match value {
        Some(v) if v < min || v > max => Err(ParseError(format!("{field} must be between {min} and {max}, not {v}"))),
        _ => Ok(()),
    }
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
            agent_name: String::new(),
            avatar_url: String::new(),
            reply_time: ReplyTime::Minutes,
            theme: Theme::Auto,
            behavior: Behavior::default(),
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
        check_len("agentName", &self.agent_name, 60)?;
        check_len("avatarUrl", &self.avatar_url, 500)?;
        let https = self.avatar_url.strip_prefix("https://").is_some_and(|rest| !rest.is_empty());
        if !(self.avatar_url.is_empty() || https && !self.avatar_url.chars().any(char::is_whitespace)) {
            return Err(ParseError("avatarUrl must be an https:// URL or empty".into()));
        }
        self.behavior.validate()?;
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

    #[test]
    fn new_fields_are_checked() {
        let http = WidgetConfig { avatar_url: "http://x.test/a.png".into(), ..WidgetConfig::default() };
        assert!(http.validate().is_err());
        let behavior = Behavior { open_delay_seconds: 601, ..Behavior::default() };
        assert!(WidgetConfig { behavior, ..WidgetConfig::default() }.validate().is_err());
        let behavior = Behavior { show_on_urls: vec!["/pricing*".into(), "*/blog/*".into()], ..Behavior::default() };
        assert!(WidgetConfig { behavior, ..WidgetConfig::default() }.validate().is_ok());
        let behavior = Behavior { hide_on_urls: vec!["no slash".into()], ..Behavior::default() };
        assert!(WidgetConfig { behavior, ..WidgetConfig::default() }.validate().is_err());
    }
}

/// A URL parameter name the widget may capture (only for the API schema).
#[derive(utoipa::ToSchema)]
#[schema(pattern = r"^[A-Za-z0-9_-]{1,40}$")]
#[allow(dead_code)] // describes the items of `custom_params`; never built
struct CustomParam(String);

/// A page pattern: a path (and query) where `*` matches anything (only for the API schema).
#[derive(utoipa::ToSchema)]
#[schema(pattern = r"^[/*][^\s\x00-\x1f\x7f-\x9f]{0,199}$")]
#[allow(dead_code)] // describes the items of `show_on_urls` / `hide_on_urls`; never built
struct UrlPattern(String);
