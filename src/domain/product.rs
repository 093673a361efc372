//! What a license can buy (products, tiers) and who a user is within it (roles).

use super::ParseError;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// A product a license can own; each has its own product-key prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Product {
    /// The website chat widget (`chat_`).
    Chatbot,
    /// The sales agent (`sale_`).
    SalesAgent,
    /// Data enrichment (`data_`).
    DataEnrichment,
    /// The setup agent (`agnt_`).
    SetupAgent,
}

impl Product {
    /// Every product, in key-prefix order.
    pub const ALL: [Product; 4] = [Self::Chatbot, Self::SalesAgent, Self::DataEnrichment, Self::SetupAgent];

    /// The name used in APIs and in the `products` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chatbot => "chatbot",
            Self::SalesAgent => "sales-agent",
            Self::DataEnrichment => "data-enrichment",
            Self::SetupAgent => "setup-agent",
        }
    }

    /// The product-key prefix without its underscore.
    pub fn key_prefix(self) -> &'static str {
        match self {
            Self::Chatbot => "chat",
            Self::SalesAgent => "sale",
            Self::DataEnrichment => "data",
            Self::SetupAgent => "agnt",
        }
    }

    /// The product whose keys start with `prefix`.
    pub fn from_key_prefix(prefix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key_prefix() == prefix)
    }
}

impl FromStr for Product {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            ParseError(format!("unknown product '{s}' (expected chatbot, sales-agent, data-enrichment or setup-agent)"))
        })
    }
}

/// A license's plan; it sets the daily API allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// 1,000 API calls a day.
    Free,
    /// 10,000 API calls a day.
    #[default]
    Basic,
    /// 100,000 API calls a day.
    Pro,
    /// No daily cap.
    Enterprise,
}

impl Tier {
    /// The name stored and shown in APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Basic => "basic",
            Self::Pro => "pro",
            Self::Enterprise => "enterprise",
        }
    }
}

impl FromStr for Tier {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Free, Self::Basic, Self::Pro, Self::Enterprise]
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ParseError(format!("unknown tier '{s}' (expected free, basic, pro or enterprise)")))
    }
}

/// What a dashboard user may do within their license.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Registered the license; manages keys and configuration.
    Owner,
    /// Answers conversations.
    Agent,
}

impl Role {
    /// The name stored and carried in the `role` claim.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Agent => "agent",
        }
    }
}

impl FromStr for Role {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Self::Owner),
            "agent" => Ok(Self::Agent),
            other => Err(ParseError(format!("unknown role '{other}'"))),
        }
    }
}
