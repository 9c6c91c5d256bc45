//! Configuration: the settings of the process ([`settings`]: listeners, store, outbox,
//! journal) and the creditor registry ([`registry`]: the broker, its stations, the creditors
//! with their accounts and entrate, the tipi pendenza, the applications and their connectors,
//! the operators). Loaded once, validated with the name of the offending key, then only read;
//! the registry's lookup maps are built once, on first use.
//!
//! Precedence: command-line flags > the `--config` file > the embedded demo configuration
//! (`varco.example.toml`, compiled in).

pub mod registry;
pub mod servizi;
pub mod settings;

pub use registry::*;
pub use servizi::{Importo, Servizio, placeholders};
pub use settings::*;

use crate::password::verify_password;
use anyhow::{Context, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The embedded demo configuration (also the documented example).
pub const DEMO_TOML: &str = include_str!("../../varco.example.toml");

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The broker (intermediario) whose stations Varco runs.
    pub intermediario: Intermediario,
    /// The listener pagoPA calls.
    #[serde(default)]
    pub nodo: NodoConfig,
    /// The listener gestionali and operators call.
    #[serde(default)]
    pub api: ApiConfig,
    /// The embedded store.
    #[serde(default)]
    pub store: StoreConfig,
    /// Seed demo positions on first start.
    #[serde(default)]
    pub demo: DemoConfig,
    /// Receipt forwarding to gestionali.
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// The event journal.
    #[serde(default)]
    pub journal: JournalConfig,
    /// Settlement flows.
    #[serde(default)]
    pub fdr: FdrConfig,
    /// Stations of the broker.
    pub stazioni: Vec<Stazione>,
    /// Creditors.
    pub domini: Vec<Dominio>,
    /// Other creditors some voci credit (multi-beneficiary positions).
    #[serde(default)]
    pub beneficiari: Vec<Beneficiario>,
    /// Kinds of position.
    #[serde(default)]
    pub tipi_pendenza: Vec<TipoPendenza>,
    /// Client applications (gestionali).
    #[serde(default)]
    pub applicazioni: Vec<Applicazione>,
    /// Operators of the backoffice API.
    #[serde(default)]
    pub operatori: Vec<Operatore>,
    /// Services paid at a PSP without a notice (paDemandPaymentNotice).
    #[serde(default)]
    pub servizi: Vec<Servizio>,
    /// The registry's lookup maps, built on first use.
    #[serde(skip)]
    index: std::sync::OnceLock<Index>,
}

/// Overrides given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--nodo-listen`
    pub nodo_listen: Option<SocketAddr>,
    /// `--api-listen`
    pub api_listen: Option<SocketAddr>,
}

impl Config {
    /// The embedded demo configuration.
    pub fn demo() -> Self {
        // The demo is compiled in and covered by a test, so it always parses and validates.
        Self::parse(DEMO_TOML, "embedded demo configuration")
            .expect("the demo configuration is valid")
    }

    /// Parses and validates a TOML text; `origin` names it in errors. Service schema files
    /// are read relative to the working directory.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Self> {
        Self::parse_at(text, origin, None)
    }

    /// Parses and validates a TOML text, reading service schema files relative to `base`.
    fn parse_at(text: &str, origin: &str, base: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut config: Config =
            toml::from_str(text).with_context(|| format!("{origin}: invalid configuration"))?;
        config
            .validate()
            .with_context(|| format!("{origin}: invalid configuration"))?;
        config
            .load_schemas(base)
            .with_context(|| format!("{origin}: invalid configuration"))?;
        Ok(config)
    }

    /// Loads `path` (or the demo when `None`) and applies the overrides.
    pub fn load(path: Option<&std::path::Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Self::parse_at(&text, &path.display().to_string(), path.parent())?
            }
            None => Self::demo(),
        };
        if let Some(dir) = &overrides.data_dir {
            config.store.data_dir = dir.clone();
        }
        for (i, d) in config.domini.iter_mut().enumerate() {
            if let Some(path) = &d.logo {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("domini[{i}].logo: cannot read {}", path.display()))?;
                if !(bytes.starts_with(b"\x89PNG") || bytes.starts_with(&[0xff, 0xd8])) {
                    bail!(
                        "domini[{i}].logo: {} is not a PNG or JPEG image",
                        path.display()
                    );
                }
                d.logo_bytes = Some(std::sync::Arc::new(bytes));
            }
        }
        if let Some(addr) = overrides.nodo_listen {
            config.nodo.listen = addr;
        }
        if let Some(addr) = overrides.api_listen {
            config.api.listen = addr;
        }
        Ok(config)
    }

    /// Checks every cross-reference and value, naming the key at fault.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.validate_settings()?;
        self.validate_registry()?;
        self.validate_servizi()
    }

    /// Whether both listeners are on loopback addresses.
    pub fn loopback_only(&self) -> bool {
        self.nodo.listen.ip().is_loopback() && self.api.listen.ip().is_loopback()
    }

    /// Whether the well-known demo password may be used: only when nobody but this host can
    /// reach Varco, i.e. both listeners on loopback AND no trusted proxy on either (behind a
    /// reverse proxy on the same host, a remote client arrives from loopback too).
    pub fn demo_credentials_allowed(&self) -> bool {
        self.loopback_only()
            && self.nodo.access.trusted_proxies.is_empty()
            && self.api.access.trusted_proxies.is_empty()
    }

    /// The registry's lookup maps.
    fn index(&self) -> &Index {
        self.index.get_or_init(|| Index::new(self))
    }
}

impl Config {
    /// Refuses the well-known demo password unless [`Config::demo_credentials_allowed`].
    pub fn check_demo_password(&self) -> anyhow::Result<()> {
        if self.demo_credentials_allowed() {
            return Ok(());
        }
        let operators = (self.operatori.iter().enumerate()).map(|(i, o)| {
            (
                format!("operatori[{i}]"),
                "operator",
                &o.username,
                &o.password_hash,
            )
        });
        let applications = (self.applicazioni.iter().enumerate()).map(|(i, a)| {
            (
                format!("applicazioni[{i}]"),
                "application",
                &a.id_a2a,
                &a.password_hash,
            )
        });
        for (key, kind, name, hash) in operators.chain(applications) {
            if verify_password("demo", hash) {
                bail!(
                    "{key}.password_hash: {kind} {name} uses the demo password, which is \
                     accepted only while both listeners are on loopback and neither has access.trusted_proxies \
                     (behind a proxy a remote client looks local); set a real one with `varco hash-password`"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::hash_password;

    #[test]
    fn the_demo_configuration_is_valid() {
        let c = Config::demo();
        assert_eq!(c.intermediario.id, "77777777777");
        assert!(c.stazioni.iter().any(|s| s.id == "77777777777_01"));
        assert!(c.loopback_only());
    }

    #[test]
    fn store_settings_are_checked_and_the_password_never_printed() {
        let with_store = |lines: &str| {
            let toml = DEMO_TOML.replacen("[store]\n", &format!("[store]\n{lines}\n"), 1);
            Config::parse(&toml, "test").map_err(|e| format!("{e:#}"))
        };
        let err = with_store("engine = \"postgres\"").unwrap_err();
        assert!(err.contains("store.url: required"), "{err}");
        let err = with_store(
            "engine = \"postgres\"\nurl = \"postgres://v@db/varco\"\nsynchronous_commit = \"off\"",
        )
        .unwrap_err();
        assert!(err.contains("store.synchronous_commit"), "{err}");
        let err = with_store(
            "engine = \"postgres\"\nurl = \"postgres://v@db/varco\"\nrequest_budget_ms = 7000",
        )
        .unwrap_err();
        assert!(err.contains("store.request_budget_ms"), "{err}");
        let err = with_store("engine = \"mysql\"").unwrap_err();
        assert!(err.contains("engine"), "{err}");
        let c = with_store(
            "engine = \"postgres\"\nurl = \"postgres://varco:s3cret@db1,db2/varco?target_session_attrs=read-write\"",
        )
        .unwrap();
        let shown = format!("{:?}", c.store);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://varco:***@db1,db2/varco"),
            "{shown}"
        );
        let kv = settings::DbUrl::from("host=/run/pg user=varco password=s3cret dbname=varco");
        assert_eq!(
            format!("{kv:?}"),
            "host=/run/pg user=varco password=*** dbname=varco"
        );
        // The default stays the embedded store: `make run` needs no database.
        assert_eq!(Config::demo().store.engine, settings::StoreEngine::Sled);
    }

    #[test]
    fn errors_name_the_key() {
        let bad = DEMO_TOML.replacen("aux_digit = 3", "aux_digit = 7", 1);
        let err = format!("{:#}", Config::parse(&bad, "test").unwrap_err());
        assert!(err.contains("domini[0].aux_digit"), "{err}");

        let bad = DEMO_TOML.replacen(
            "IT60X0542811101000000123456",
            "IT60X0542811101000000123457",
            1,
        );
        let err = format!("{:#}", Config::parse(&bad, "test").unwrap_err());
        assert!(err.contains("domini[0].iban[0].iban"), "{err}");

        let bad = format!("{DEMO_TOML}\n[surprise]\nx = 1\n");
        let err = format!("{:#}", Config::parse(&bad, "test").unwrap_err());
        assert!(err.contains("surprise"), "{err}");
    }

    #[test]
    fn overlapping_claims_of_two_applications_are_refused() {
        let hash = Config::demo().applicazioni[0].password_hash.clone();
        let app = |id: &str, domini: &str, extra: &str| {
            format!(
                "[[applicazioni]]\nid_a2a = \"{id}\"\npassword_hash = \"{hash}\"\n\
                 domini = {domini}\ntipi_pendenza = [\"*\"]\n{extra}\n\
                 [applicazioni.connettore]\nurl = \"http://127.0.0.1:9/\"\n"
            )
        };
        let with = |a: &str, b: &str, domini_b: &str| {
            format!(
                "{DEMO_TOML}\n{}\n{}",
                app("uno", r#"["*"]"#, a),
                app("due", domini_b, b)
            )
        };
        let all = r#"["*"]"#;
        let err = format!(
            "{:#}",
            Config::parse(
                &with(
                    r#"iuv_pattern = "^09""#,
                    r#"segregation_codes = ["09"]"#,
                    all
                ),
                "test"
            )
            .unwrap_err()
        );
        assert!(
            err.contains("applicazioni[2]: due claims") && err.contains("e.g. IUV 09"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            Config::parse(
                &with(
                    r#"segregation_codes = ["09"]"#,
                    r#"segregation_codes = ["09"]"#,
                    r#"["77777777777"]"#
                ),
                "test"
            )
            .unwrap_err()
        );
        assert!(err.contains("applicazioni[2]"), "{err}");
        Config::parse(
            &with(
                r#"iuv_pattern = "^08""#,
                r#"segregation_codes = ["09"]"#,
                all,
            ),
            "test",
        )
        .unwrap();
        // An application serving no domain the other serves claims nothing of it.
        Config::parse(
            &with(
                r#"segregation_codes = ["09"]"#,
                r#"segregation_codes = ["09"]"#,
                "[]",
            ),
            "test",
        )
        .unwrap();
    }

    #[test]
    fn demo_password_only_on_loopback() {
        let mut c = Config::demo();
        assert!(verify_password("demo", &c.applicazioni[0].password_hash));
        assert!(!verify_password("demo2", &c.applicazioni[0].password_hash));
        c.check_demo_password().unwrap();
        c.api.listen = "0.0.0.0:8081".parse().unwrap();
        let err = c.check_demo_password().unwrap_err().to_string();
        assert!(err.contains("operatori[0].password_hash"), "{err}");
        c.operatori.clear();
        let err = c.check_demo_password().unwrap_err().to_string();
        assert!(err.contains("applicazioni[0].password_hash"), "{err}");
        c.applicazioni[0].password_hash = hash_password("a real secret").unwrap();
        c.check_demo_password().unwrap();
    }

    #[test]
    fn demo_password_never_behind_a_trusted_proxy() {
        for listener in ["nodo", "api"] {
            let mut c = Config::demo();
            assert!(c.demo_credentials_allowed());
            let access = if listener == "nodo" {
                &mut c.nodo.access
            } else {
                &mut c.api.access
            };
            access.trusted_proxies = vec!["127.0.0.1".into()];
            assert!(c.loopback_only(), "still on loopback");
            assert!(!c.demo_credentials_allowed(), "{listener}");
            let err = c.check_demo_password().unwrap_err().to_string();
            assert!(err.contains("operatori[0].password_hash"), "{err}");
            assert!(err.contains("trusted_proxies"), "{err}");
            c.operatori.clear();
            let err = c.check_demo_password().unwrap_err().to_string();
            assert!(err.contains("applicazioni[0].password_hash"), "{err}");
            for a in &mut c.applicazioni {
                a.password_hash = hash_password("a real secret").unwrap();
            }
            c.check_demo_password().unwrap();
        }
    }

    #[test]
    fn listener_defaults() {
        let c = Config::demo();
        assert_eq!(c.nodo.body_timeout_ms, 10_000);
        assert_eq!(c.api.body_timeout_ms, 60_000);
        assert_eq!(c.nodo.access.client_ip_header, "X-Forwarded-For");
        assert_eq!(c.api.access.client_ip_header, "X-Forwarded-For");
        let bad = DEMO_TOML.replacen("[api]\n", "[api]\nbody_timeout_ms = 0\n", 1);
        let err = format!("{:#}", Config::parse(&bad, "test").unwrap_err());
        assert!(err.contains("api.body_timeout_ms"), "{err}");
    }

    #[test]
    fn logos_are_loaded_once_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let png = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/avviso-demo.png");
        let with_logo = DEMO_TOML.replacen(
            "ufficio = \"Ufficio Tributi\"",
            &format!("ufficio = \"Ufficio Tributi\"\nlogo = \"{png}\""),
            1,
        );
        let path = dir.path().join("c.toml");
        std::fs::write(&path, &with_logo).unwrap();
        let c = Config::load(Some(&path), &Overrides::default()).unwrap();
        assert!(
            c.domini[0]
                .logo_bytes
                .as_ref()
                .is_some_and(|b| b.len() > 1000)
        );
        let not_image = dir.path().join("logo.txt");
        std::fs::write(&not_image, "hello").unwrap();
        std::fs::write(&path, with_logo.replace(png, not_image.to_str().unwrap())).unwrap();
        let err = format!(
            "{:#}",
            Config::load(Some(&path), &Overrides::default()).unwrap_err()
        );
        assert!(err.contains("domini[0].logo"), "{err}");
    }

    #[test]
    fn overrides_win() {
        let o = Overrides {
            data_dir: Some("/tmp/x".into()),
            nodo_listen: Some("127.0.0.1:1".parse().unwrap()),
            api_listen: None,
        };
        let c = Config::load(None, &o).unwrap();
        assert_eq!(c.store.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.nodo.listen.port(), 1);
        assert_eq!(c.api.listen.port(), 8081);
    }
}
