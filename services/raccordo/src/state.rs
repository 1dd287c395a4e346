//! raccordo's state folder (`.raccordo/` by default): the embedded server's data, the secret key
//! that pseudonymises fiscal codes, and the tokens file. Secrets are created on first use with
//! owner-only permissions, and their creation is said out loud.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context as _;
use raccordo_domain::identity::SubjectKey;
use raccordo_domain::ids::{OperatorId, OrgId, OrgKind};
use raccordo_domain::registry::Registry;
use raccordo_gateway::Tokens;

/// Random bytes from the operating system, as lowercase hex.
pub fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("cannot read /dev/urandom")?;
    Ok(hex::encode(buf))
}

fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Reads the subject key, creating a new random one if the file does not exist.
pub fn subject_key(path: &Path) -> anyhow::Result<SubjectKey> {
    if !path.exists() {
        write_secret(path, &format!("{}\n", random_hex(32)?))?;
        tracing::warn!(
            path = %path.display(),
            "created a new subject key: keep it safe and back it up, subject_refs depend on it"
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the subject key {}", path.display()))?;
    SubjectKey::from_hex(&text)
        .with_context(|| format!("the subject key {} is not usable", path.display()))
}

/// The organisations the default tokens file gives a token to: those of the Ambiti the demo
/// plays out in (their ATS, ASST, Ufficio di Piano, Comuni, delivering bodies and Centri).
pub fn demo_organisations(registry: &Registry, on: time::Date) -> Vec<OrgId> {
    let mut orgs = Vec::new();
    for code in ["50032", "50069"] {
        let ambito = code.parse().expect("a valid Ambito code");
        orgs.extend(
            registry
                .ats_of_ambito(&ambito, on)
                .map(|a| OrgId::Ats(a.clone())),
        );
        orgs.extend(
            registry
                .asst_of_ambito(&ambito, on)
                .into_iter()
                .map(|a| OrgId::Asst(a.clone())),
        );
        orgs.push(OrgId::Ambito(ambito.clone()));
        for comune in registry.comuni_of_ambito(&ambito, on) {
            orgs.push(OrgId::Comune(comune.clone()));
        }
        for centro in registry.centri_of_ambito(&ambito, on) {
            orgs.push(OrgId::Centro(centro.clone()));
        }
    }
    orgs.extend(registry.enti().map(|e| OrgId::Ente(e.id.clone())));
    orgs.sort();
    orgs.dedup();
    orgs
}

/// The operator a created token acts as, by the kind of organisation.
pub fn operator_of(org: &OrgId) -> OperatorId {
    let operator = match org.kind() {
        OrgKind::Asst => "cot",
        OrgKind::Ats => "monitoraggio",
        OrgKind::Centro => "accoglienza",
        _ => "servizio-sociale",
    };
    operator.parse().expect("a valid operator id")
}

/// Creates a tokens file at `path` (which must not exist) with a new random token for each of
/// `orgs`, and returns them.
pub fn create_tokens(path: &Path, orgs: Vec<OrgId>) -> anyhow::Result<Vec<(OrgId, String)>> {
    let mut text = String::from(
        "# raccordo bearer tokens: token,org,operator. One line per caller; keep this file secret.\n",
    );
    let mut tokens = Vec::new();
    for org in orgs {
        let token = random_hex(16)?;
        text.push_str(&format!("{token},{org},{}\n", operator_of(&org)));
        tokens.push((org, token));
    }
    write_secret(path, &text)?;
    Ok(tokens)
}

/// Reads the tokens file, creating one with a token for each demo organisation if it does not exist.
pub fn tokens(path: &Path, registry: &Registry, on: time::Date) -> anyhow::Result<Tokens> {
    if !path.exists() {
        create_tokens(path, demo_organisations(registry, on))?;
        tracing::warn!(path = %path.display(), "created a tokens file with one token per demo organisation");
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Tokens::parse(&path.display().to_string(), &text)?)
}
