//! What a license can buy (products, tiers) and whether it may be used.

wire_enum!(
    /// A product a license can own; each has its own product-key prefix.
    Product("product") {
        /// The website chat widget (`chat_`).
        Chatbot = "chatbot",
        /// The sales agent (`sale_`).
        SalesAgent = "sales-agent",
        /// Data enrichment (`data_`).
        DataEnrichment = "data-enrichment",
        /// The setup agent (`agnt_`).
        SetupAgent = "setup-agent",
    }
);

impl Product {
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
        Self::ALL.iter().copied().find(|p| p.key_prefix() == prefix)
    }
}

wire_enum!(
    /// A license's plan; it sets the daily API allowance.
    #[derive(Default)]
    Tier("tier") {
        /// 1,000 API calls a day.
        Free = "free",
        /// 10,000 API calls a day.
        #[default]
        Basic = "basic",
        /// 100,000 API calls a day.
        Pro = "pro",
        /// No daily cap.
        Enterprise = "enterprise",
    }
);

wire_enum!(
    /// Whether a license may be used.
    LicenseStatus("license status") {
        /// In good standing.
        Active = "active",
        /// Blocked by an admin: no logins, all sessions revoked.
        Suspended = "suspended",
    }
);
