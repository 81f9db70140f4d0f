//! The national clouds of graph-contract.md: for each, where Graph lives and which authority
//! issues its tokens. [`super::AuthConfig`] starts from one and applies the `--graph-url` and
//! `AZURE_AUTHORITY_HOST` overrides.

/// A Microsoft cloud (`--cloud`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    /// The global (commercial) cloud.
    #[default]
    Global,
    /// US Government (GCC High).
    UsGov,
    /// US Government, Department of Defense.
    UsGovDod,
    /// China, operated by 21Vianet.
    China,
}

impl Cloud {
    /// The Graph service root (no trailing slash). It is also the token audience, so the
    /// `.default` scope is built from it even when `--graph-url` sends requests elsewhere.
    pub fn graph_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGov => "https://graph.microsoft.us",
            Cloud::UsGovDod => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// The Microsoft Entra authority host that issues tokens for this cloud (no trailing slash).
    pub fn authority(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGov | Cloud::UsGovDod => "https://login.microsoftonline.us",
            Cloud::China => "https://login.partner.microsoftonline.cn",
        }
    }

    /// The cloud's name for a person.
    pub fn display(self) -> &'static str {
        match self {
            Cloud::Global => "global (commercial)",
            Cloud::UsGov => "US Government L4 (GCC High)",
            Cloud::UsGovDod => "US Government L5 (DOD)",
            Cloud::China => "China (operated by 21Vianet)",
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGov => "usgov",
            Cloud::UsGovDod => "usgovdod",
            Cloud::China => "china",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cloud_has_https_endpoints_without_trailing_slash() {
        for cloud in [Cloud::Global, Cloud::UsGov, Cloud::UsGovDod, Cloud::China] {
            for url in [cloud.graph_root(), cloud.authority()] {
                assert!(url.starts_with("https://"), "{url}");
                assert!(!url.ends_with('/'), "{url}");
            }
        }
        assert_eq!(
            Cloud::UsGovDod.graph_root(),
            "https://dod-graph.microsoft.us"
        );
        assert_eq!(Cloud::UsGovDod.authority(), Cloud::UsGov.authority());
    }
}
