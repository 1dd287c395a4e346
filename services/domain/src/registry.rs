//! The territorial registry: which ATS, ASST, Distretti, Ambiti, Comuni, delivering bodies and
//! Centri per la Famiglia exist, how they relate, and who delivers which service for which Comune,
//! on a given date.
//!
//! The data is the TSV files in `contracts/registry/` (Allegato C of DGR XII/2167 and what the
//! Piani di Zona say). The territory is not a tree: an Ambito can span several ASST and Distretti
//! and a Distretto can sit under two ASST, so Allegato C is kept as its list of rows rather than
//! folded into a hierarchy. Every row carries a validity period, because boundaries and delivery
//! arrangements change and a pathway must be routed by the arrangement in force on its date.
//!
//! This module reads no files: callers pass the contents in, and [`Registry::embedded`] is the copy
//! compiled into the binary. Parsing refuses a bad row with its file, line and a reason an operator
//! can act on, so a broken edit fails at start-up instead of misrouting pathways later.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::Date;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::ids::{
    AmbitoCode, AsstCode, AtsCode, CentroId, ComuneId, DistrettoCode, EnteId, IdError, OrgId,
    SiossCode,
};

/// One registry file, as the caller read it.
#[derive(Debug, Clone, Copy)]
pub struct RegistryFile<'a> {
    pub name: &'a str,
    pub contents: &'a str,
}

/// Why the registry files cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct RegistryError {
    pub file: String,
    /// 1-based; 0 when the problem is the file as a whole (e.g. it is missing).
    pub line: usize,
    pub reason: String,
}

impl RegistryError {
    fn new(file: &str, line: usize, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line,
            reason: reason.into(),
        }
    }
}

/// The kinds of service a delivering body can run on behalf of a Comune.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ServiceArea {
    /// General social service, including the social side of protected discharges.
    SocialService,
    /// Municipal home care (SAD).
    HomeCare,
    /// Tutela minori: minors under an order of the judicial authority.
    ChildProtection,
    /// Specialist services for minors and families (home educational support, foster care, ...).
    FamilySupport,
}

impl ServiceArea {
    pub const ALL: [ServiceArea; 4] = [
        Self::SocialService,
        Self::HomeCare,
        Self::ChildProtection,
        Self::FamilySupport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SocialService => "social_service",
            Self::HomeCare => "home_care",
            Self::ChildProtection => "child_protection",
            Self::FamilySupport => "family_support",
        }
    }
}

impl fmt::Display for ServiceArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceArea {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::ALL
            .into_iter()
            .find(|area| area.as_str() == s)
            .ok_or_else(|| IdError {
                kind: "service area",
                value: s.chars().take(80).collect(),
                expected: "one of social_service, home_care, child_protection, family_support",
            })
    }
}

/// When a row is in force: from `from` (inclusive) until `until` (exclusive), or indefinitely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Validity {
    pub from: Date,
    pub until: Option<Date>,
}

impl Validity {
    pub fn contains(&self, on: Date) -> bool {
        self.from <= on && self.until.is_none_or(|until| on < until)
    }

    pub(crate) fn overlaps(&self, other: &Validity) -> bool {
        self.until.is_none_or(|until| other.from < until)
            && other.until.is_none_or(|until| self.from < until)
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.until {
            Some(until) => write!(f, "from {} until {until}", self.from),
            None => write!(f, "from {} with no end", self.from),
        }
    }
}

/// An Agenzia di Tutela della Salute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ats {
    pub code: AtsCode,
    pub name: String,
}

/// An Azienda Socio-Sanitaria Territoriale and the ATS it answers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Asst {
    pub code: AsstCode,
    pub name: String,
    pub ats: AtsCode,
}

/// A Distretto. Which ASST and Ambiti it belongs to is dated, so it is asked of the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Distretto {
    pub code: DistrettoCode,
    pub name: String,
}

/// An Ambito territoriale, with its national SIOSS code and its ATS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ambito {
    pub code: AmbitoCode,
    pub name: String,
    pub sioss: SiossCode,
    pub ats: AtsCode,
}

/// A Comune and the Ambito and Distretto it has belonged to, period by period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comune {
    pub id: ComuneId,
    pub name: String,
    /// Sorted by start date; the periods never overlap.
    pub memberships: Vec<Membership>,
}

/// One period of a Comune's membership of an Ambito and Distretto.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub ambito: AmbitoCode,
    pub distretto: DistrettoCode,
    pub validity: Validity,
}

/// A body delivering social services for the Comuni of an Ambito (an azienda speciale consortile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ente {
    pub id: EnteId,
    pub name: String,
    pub ambito: AmbitoCode,
    /// Sorted by start date; the periods never overlap.
    pub periods: Vec<Validity>,
}

/// A Centro per la Famiglia.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Centro {
    pub id: CentroId,
    pub name: String,
    pub ambito: AmbitoCode,
    /// None when the body running it is not itself in the registry (e.g. a foundation).
    pub run_by: Option<OrgId>,
    /// Sorted by start date; the periods never overlap.
    pub periods: Vec<Validity>,
}

/// How many of each thing the registry holds (whatever their validity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RegistryCounts {
    pub ats: usize,
    pub asst: usize,
    pub distretti: usize,
    pub ambiti: usize,
    pub comuni: usize,
    pub enti: usize,
    pub centri: usize,
}

/// One row of Allegato C: an Ambito, one of its ASST and one of its Distretti.
#[derive(Debug, Clone)]
struct Link {
    ats: AtsCode,
    ambito: AmbitoCode,
    asst: AsstCode,
    distretto: DistrettoCode,
    validity: Validity,
}

#[derive(Debug, Clone)]
struct Delivery {
    comune: ComuneId,
    ente: EnteId,
    area: ServiceArea,
    validity: Validity,
}

/// The parsed registry. Queries return results sorted by code or id.
#[derive(Debug, Clone)]
pub struct Registry {
    ats: BTreeMap<AtsCode, Ats>,
    asst: BTreeMap<AsstCode, Asst>,
    distretti: BTreeMap<DistrettoCode, Distretto>,
    ambiti: BTreeMap<AmbitoCode, Ambito>,
    links: Vec<Link>,
    comuni: BTreeMap<ComuneId, Comune>,
    enti: BTreeMap<EnteId, Ente>,
    deliveries: Vec<Delivery>,
    centri: BTreeMap<CentroId, Centro>,
}

const ALLEGATO_C: &str = "allegato_c.tsv";
const COMUNI: &str = "comuni.tsv";
const ENTI: &str = "enti.tsv";
const DELIVERIES: &str = "deliveries.tsv";
const CENTRI: &str = "centri_famiglia.tsv";

impl Registry {
    pub const FILE_NAMES: [&'static str; 5] = [ALLEGATO_C, COMUNI, ENTI, DELIVERIES, CENTRI];

    /// Parses the five registry files; all are required, and other names are ignored. Files are
    /// read in the order of [`Self::FILE_NAMES`], each referring only to those before it.
    pub fn parse(files: &[RegistryFile<'_>]) -> Result<Registry, RegistryError> {
        let file = |name: &str| {
            let mut named = files.iter().filter(|f| f.name == name);
            match (named.next(), named.next()) {
                (Some(file), None) => Ok(file),
                (None, _) => Err(RegistryError::new(
                    name,
                    0,
                    format!(
                        "missing: the registry needs {}",
                        Self::FILE_NAMES.join(", ")
                    ),
                )),
                (Some(_), Some(_)) => Err(RegistryError::new(name, 0, "given more than once")),
            }
        };
        let mut parser = Parser::default();
        parser.allegato_c(file(ALLEGATO_C)?)?;
        parser.comuni(file(COMUNI)?)?;
        parser.enti(file(ENTI)?)?;
        parser.deliveries(file(DELIVERIES)?)?;
        parser.centri(file(CENTRI)?)?;
        Ok(parser.finish())
    }

    /// The registry shipped in `contracts/registry/`, parsed on first use.
    ///
    /// # Panics
    /// If the shipped files are invalid, which a test of this module rules out.
    pub fn embedded() -> &'static Registry {
        static EMBEDDED: OnceLock<Registry> = OnceLock::new();
        EMBEDDED.get_or_init(|| {
            Registry::parse(&Self::embedded_files())
                .unwrap_or_else(|e| panic!("the registry shipped in contracts/registry: {e}"))
        })
    }

    /// The files shipped in `contracts/registry/`, as compiled into this crate.
    pub fn embedded_files() -> [RegistryFile<'static>; 5] {
        let [allegato_c, comuni, enti, deliveries, centri] = Self::FILE_NAMES;
        [
            RegistryFile {
                name: allegato_c,
                contents: include_str!("../../../contracts/registry/allegato_c.tsv"),
            },
            RegistryFile {
                name: comuni,
                contents: include_str!("../../../contracts/registry/comuni.tsv"),
            },
            RegistryFile {
                name: enti,
                contents: include_str!("../../../contracts/registry/enti.tsv"),
            },
            RegistryFile {
                name: deliveries,
                contents: include_str!("../../../contracts/registry/deliveries.tsv"),
            },
            RegistryFile {
                name: centri,
                contents: include_str!("../../../contracts/registry/centri_famiglia.tsv"),
            },
        ]
    }

    pub fn counts(&self) -> RegistryCounts {
        RegistryCounts {
            ats: self.ats.len(),
            asst: self.asst.len(),
            distretti: self.distretti.len(),
            ambiti: self.ambiti.len(),
            comuni: self.comuni.len(),
            enti: self.enti.len(),
            centri: self.centri.len(),
        }
    }

    pub fn ats(&self, code: &AtsCode) -> Option<&Ats> {
        self.ats.get(code)
    }

    pub fn asst(&self, code: &AsstCode) -> Option<&Asst> {
        self.asst.get(code)
    }

    pub fn distretto(&self, code: &DistrettoCode) -> Option<&Distretto> {
        self.distretti.get(code)
    }

    pub fn ambito(&self, code: &AmbitoCode) -> Option<&Ambito> {
        self.ambiti.get(code)
    }

    pub fn comune(&self, id: &ComuneId) -> Option<&Comune> {
        self.comuni.get(id)
    }

    pub fn ente(&self, id: &EnteId) -> Option<&Ente> {
        self.enti.get(id)
    }

    pub fn centro(&self, id: &CentroId) -> Option<&Centro> {
        self.centri.get(id)
    }

    pub fn all_ats(&self) -> impl Iterator<Item = &Ats> {
        self.ats.values()
    }

    pub fn all_asst(&self) -> impl Iterator<Item = &Asst> {
        self.asst.values()
    }

    pub fn distretti(&self) -> impl Iterator<Item = &Distretto> {
        self.distretti.values()
    }

    pub fn ambiti(&self) -> impl Iterator<Item = &Ambito> {
        self.ambiti.values()
    }

    pub fn comuni(&self) -> impl Iterator<Item = &Comune> {
        self.comuni.values()
    }

    pub fn enti(&self) -> impl Iterator<Item = &Ente> {
        self.enti.values()
    }

    pub fn centri(&self) -> impl Iterator<Item = &Centro> {
        self.centri.values()
    }

    pub fn ats_of_asst(&self, asst: &AsstCode) -> Option<&AtsCode> {
        self.asst.get(asst).map(|asst| &asst.ats)
    }

    pub fn ambito_of_comune(&self, comune: &ComuneId, on: Date) -> Option<&AmbitoCode> {
        self.membership(comune, on).map(|m| &m.ambito)
    }

    pub fn comuni_of_ambito(&self, ambito: &AmbitoCode, on: Date) -> Vec<&ComuneId> {
        self.comuni
            .values()
            .filter(|c| {
                self.membership(&c.id, on)
                    .is_some_and(|m| &m.ambito == ambito)
            })
            .map(|c| &c.id)
            .collect()
    }

    pub fn asst_of_ambito(&self, ambito: &AmbitoCode, on: Date) -> Vec<&AsstCode> {
        sorted_unique(
            self.links_on(on)
                .filter(|l| &l.ambito == ambito)
                .map(|l| &l.asst),
        )
    }

    pub fn distretti_of_ambito(&self, ambito: &AmbitoCode, on: Date) -> Vec<&DistrettoCode> {
        sorted_unique(
            self.links_on(on)
                .filter(|l| &l.ambito == ambito)
                .map(|l| &l.distretto),
        )
    }

    pub fn ambiti_of_asst(&self, asst: &AsstCode, on: Date) -> Vec<&AmbitoCode> {
        sorted_unique(
            self.links_on(on)
                .filter(|l| &l.asst == asst)
                .map(|l| &l.ambito),
        )
    }

    pub fn ats_of_ambito(&self, ambito: &AmbitoCode, on: Date) -> Option<&AtsCode> {
        self.links_on(on)
            .find(|l| &l.ambito == ambito)
            .map(|l| &l.ats)
    }

    /// The bodies delivering `area` for the residents of `comune` on that date. Empty means the
    /// Comune delivers it itself.
    pub fn delivering_bodies(
        &self,
        comune: &ComuneId,
        area: ServiceArea,
        on: Date,
    ) -> Vec<&EnteId> {
        sorted_unique(
            self.deliveries
                .iter()
                .filter(|d| &d.comune == comune && d.area == area && d.validity.contains(on))
                .map(|d| &d.ente),
        )
    }

    pub fn centri_of_ambito(&self, ambito: &AmbitoCode, on: Date) -> Vec<&CentroId> {
        self.centri
            .values()
            .filter(|c| &c.ambito == ambito && in_force(&c.periods, on))
            .map(|c| &c.id)
            .collect()
    }

    /// Whether the organisation is in the registry and in force on that date.
    pub fn org_active(&self, org: &OrgId, on: Date) -> bool {
        match org {
            OrgId::Ats(code) => self.links_on(on).any(|l| &l.ats == code),
            OrgId::Asst(code) => self.links_on(on).any(|l| &l.asst == code),
            OrgId::Ambito(code) => self.links_on(on).any(|l| &l.ambito == code),
            OrgId::Comune(id) => self.membership(id, on).is_some(),
            OrgId::Ente(id) => self.enti.get(id).is_some_and(|e| in_force(&e.periods, on)),
            OrgId::Centro(id) => self
                .centri
                .get(id)
                .is_some_and(|c| in_force(&c.periods, on)),
        }
    }

    pub fn org_name(&self, org: &OrgId) -> Option<&str> {
        let name = match org {
            OrgId::Ats(code) => &self.ats.get(code)?.name,
            OrgId::Asst(code) => &self.asst.get(code)?.name,
            OrgId::Ambito(code) => &self.ambiti.get(code)?.name,
            OrgId::Comune(id) => &self.comuni.get(id)?.name,
            OrgId::Ente(id) => &self.enti.get(id)?.name,
            OrgId::Centro(id) => &self.centri.get(id)?.name,
        };
        Some(name)
    }

    fn links_on(&self, on: Date) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(move |l| l.validity.contains(on))
    }

    fn membership(&self, comune: &ComuneId, on: Date) -> Option<&Membership> {
        self.comuni
            .get(comune)?
            .memberships
            .iter()
            .find(|m| m.validity.contains(on))
    }
}

fn in_force(periods: &[Validity], on: Date) -> bool {
    periods.iter().any(|p| p.contains(on))
}

fn sorted_unique<T: Ord>(items: impl Iterator<Item = T>) -> Vec<T> {
    items.collect::<BTreeSet<_>>().into_iter().collect()
}

const ALLEGATO_C_COLUMNS: &[&str] = &[
    "ats_code",
    "ats_name",
    "ambito_code",
    "ambito_name",
    "sioss_code",
    "asst_code",
    "asst_name",
    "distretto_code",
    "distretto_name",
    "valid_from",
    "valid_until",
];
const COMUNI_COLUMNS: &[&str] = &[
    "comune_id",
    "name",
    "ambito_code",
    "distretto_code",
    "valid_from",
    "valid_until",
];
const ENTI_COLUMNS: &[&str] = &[
    "ente_id",
    "name",
    "ambito_code",
    "valid_from",
    "valid_until",
];
const DELIVERIES_COLUMNS: &[&str] = &[
    "comune_id",
    "ente_id",
    "service_area",
    "valid_from",
    "valid_until",
];
const CENTRI_COLUMNS: &[&str] = &[
    "centro_id",
    "name",
    "ambito_code",
    "run_by",
    "valid_from",
    "valid_until",
];

const DATE: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// One data line of a registry file, its cells in the order of the table's declared columns
/// (the file's header may list them in any order).
struct Row<'a> {
    file: &'a str,
    line: usize,
    columns: &'static [&'static str],
    cells: Vec<&'a str>,
}

/// Splits a file into its data rows, checking the header names exactly the declared columns.
/// Blank lines and lines starting with `#` are skipped but still counted for line numbers.
fn read_table<'a>(
    file: &RegistryFile<'a>,
    columns: &'static [&'static str],
) -> Result<Vec<Row<'a>>, RegistryError> {
    let mut lines = file
        .contents
        .lines()
        .enumerate()
        .map(|(index, text)| (index + 1, text))
        .filter(|(_, text)| {
            let text = text.trim();
            !text.is_empty() && !text.starts_with('#')
        });
    let expected = columns.join(", ");
    let (header_line, header) = lines.next().ok_or_else(|| {
        RegistryError::new(
            file.name,
            1,
            format!("no header line: expected the columns {expected}"),
        )
    })?;
    let names: Vec<&str> = header.split('\t').map(str::trim).collect();
    let header_error = |reason: String| RegistryError::new(file.name, header_line, reason);
    for (index, name) in names.iter().enumerate() {
        if !columns.contains(name) {
            return Err(header_error(format!(
                "unknown column '{name}': expected the columns {expected}"
            )));
        }
        if names[..index].contains(name) {
            return Err(header_error(format!("column '{name}' appears twice")));
        }
    }
    let positions = columns
        .iter()
        .map(|column| {
            names.iter().position(|name| name == column).ok_or_else(|| {
                header_error(format!(
                    "missing column '{column}': expected the columns {expected}"
                ))
            })
        })
        .collect::<Result<Vec<usize>, _>>()?;

    lines
        .map(|(line, text)| {
            let raw: Vec<&str> = text.split('\t').collect();
            if raw.len() != names.len() {
                return Err(RegistryError::new(
                    file.name,
                    line,
                    format!(
                        "expected {} tab-separated columns ({}) but found {}",
                        names.len(),
                        names.join(", "),
                        raw.len()
                    ),
                ));
            }
            Ok(Row {
                file: file.name,
                line,
                columns,
                cells: positions.iter().map(|&p| raw[p].trim()).collect(),
            })
        })
        .collect()
}

impl<'a> Row<'a> {
    fn error(&self, reason: impl Into<String>) -> RegistryError {
        RegistryError::new(self.file, self.line, reason)
    }

    /// The cell of a column the table declares (possibly empty).
    fn text(&self, column: &str) -> &'a str {
        let index = self
            .columns
            .iter()
            .position(|c| *c == column)
            .expect("rows are only asked for the columns their table declares");
        self.cells[index]
    }

    fn required(&self, column: &str) -> Result<&'a str, RegistryError> {
        match self.text(column) {
            "" => Err(self.error(format!("{column} is empty; every row needs one"))),
            text => Ok(text),
        }
    }

    fn parse<T>(&self, column: &str) -> Result<T, RegistryError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.required(column)?
            .parse()
            .map_err(|e| self.error(format!("{column}: {e}")))
    }

    fn optional<T>(&self, column: &str) -> Result<Option<T>, RegistryError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.text(column) {
            "" => Ok(None),
            _ => self.parse(column).map(Some),
        }
    }

    fn date(&self, column: &str, text: &str) -> Result<Date, RegistryError> {
        Date::parse(text, DATE).map_err(|_| {
            self.error(format!(
                "{column} '{text}' is not a date: expected YYYY-MM-DD"
            ))
        })
    }

    fn validity(&self) -> Result<Validity, RegistryError> {
        let from = self.date("valid_from", self.required("valid_from")?)?;
        let until = match self.text("valid_until") {
            "" => None,
            text => Some(self.date("valid_until", text)?),
        };
        if let Some(until) = until
            && until <= from
        {
            return Err(self.error(format!(
                "valid_until {until} is not after valid_from {from} (valid_until is the first \
                 day no longer in force; leave it empty for no end)"
            )));
        }
        Ok(Validity { from, until })
    }
}

/// Something several rows may describe (an Ambito appears on every row of its Distretti), with
/// the row that first described it and the cells that row gave for its defining columns.
struct Defined<'a, T> {
    value: T,
    line: usize,
    cells: Vec<&'a str>,
}

type DefinedMap<'a, K, T> = BTreeMap<K, Defined<'a, T>>;

/// Adds the thing `row` describes, or, if an earlier row described it, checks the two agree on
/// every one of `columns`. Returns it either way, for the caller to add the row's period.
fn define<'a, 'm, K, T>(
    map: &'m mut DefinedMap<'a, K, T>,
    key: K,
    row: &Row<'a>,
    kind: &str,
    columns: &[&str],
    make: impl FnOnce() -> T,
) -> Result<&'m mut T, RegistryError>
where
    K: Ord + fmt::Display,
{
    let cells: Vec<&'a str> = columns.iter().map(|column| row.text(column)).collect();
    match map.entry(key) {
        Entry::Vacant(entry) => Ok(&mut entry
            .insert(Defined {
                value: make(),
                line: row.line,
                cells,
            })
            .value),
        Entry::Occupied(entry) => {
            let first = entry.get();
            let disagreement = columns
                .iter()
                .zip(first.cells.iter().zip(&cells))
                .find(|(_, (before, now))| before != now);
            if let Some((column, (before, now))) = disagreement {
                return Err(row.error(format!(
                    "{kind} {}: {column} '{now}' disagrees with '{before}' on line {}; \
                     all rows about one {kind} must agree on its {column}",
                    entry.key(),
                    first.line
                )));
            }
            Ok(&mut entry.into_mut().value)
        }
    }
}

/// The rows of one file seen so far, to refuse a repeated row and two periods of the same key
/// that overlap (which would make a dated question have two answers).
#[derive(Default)]
struct Periods<'a> {
    rows: HashMap<Vec<&'a str>, usize>,
    by_key: HashMap<String, Vec<(Validity, usize)>>,
}

impl<'a> Periods<'a> {
    /// Records a row whose `key` (e.g. "Comune cormano") is in force for `validity`.
    fn record(
        &mut self,
        row: &Row<'a>,
        key: String,
        validity: Validity,
    ) -> Result<(), RegistryError> {
        if let Some(first) = self.rows.get(&row.cells) {
            return Err(row.error(format!("duplicate of line {first}")));
        }
        let mut earlier = self.by_key.get(&key).into_iter().flatten();
        if let Some((other, line)) = earlier.find(|(other, _)| other.overlaps(&validity)) {
            return Err(row.error(format!(
                "{key} is already in force {other} (line {line}); this row, in force {validity}, \
                 overlaps it: end one period (valid_until) on or before the day the other starts"
            )));
        }
        self.rows.insert(row.cells.clone(), row.line);
        self.by_key
            .entry(key)
            .or_default()
            .push((validity, row.line));
        Ok(())
    }
}

fn known<K, V>(
    map: &BTreeMap<K, V>,
    key: &K,
    row: &Row<'_>,
    kind: &str,
    source: &str,
) -> Result<(), RegistryError>
where
    K: Ord + fmt::Display,
{
    if map.contains_key(key) {
        Ok(())
    } else {
        Err(row.error(format!("unknown {kind} {key}: it is not in {source}")))
    }
}

/// The registry under construction, file by file; each file may refer only to the ones before it.
#[derive(Default)]
struct Parser<'a> {
    ats: DefinedMap<'a, AtsCode, Ats>,
    asst: DefinedMap<'a, AsstCode, Asst>,
    distretti: DefinedMap<'a, DistrettoCode, Distretto>,
    ambiti: DefinedMap<'a, AmbitoCode, Ambito>,
    links: Vec<Link>,
    comuni: DefinedMap<'a, ComuneId, Comune>,
    enti: DefinedMap<'a, EnteId, Ente>,
    deliveries: Vec<Delivery>,
    centri: DefinedMap<'a, CentroId, Centro>,
}

impl<'a> Parser<'a> {
    fn allegato_c(&mut self, file: &RegistryFile<'a>) -> Result<(), RegistryError> {
        let mut periods = Periods::default();
        // Two Ambiti sharing a SIOSS code would merge in national reporting.
        let mut sioss_owners: DefinedMap<'a, SiossCode, ()> = BTreeMap::new();
        for row in read_table(file, ALLEGATO_C_COLUMNS)? {
            let ats: AtsCode = row.parse("ats_code")?;
            let ats_name = row.required("ats_name")?;
            let ambito: AmbitoCode = row.parse("ambito_code")?;
            let ambito_name = row.required("ambito_name")?;
            let sioss: SiossCode = row.parse("sioss_code")?;
            let asst: AsstCode = row.parse("asst_code")?;
            let asst_name = row.required("asst_name")?;
            let distretto: DistrettoCode = row.parse("distretto_code")?;
            let distretto_name = row.required("distretto_name")?;
            let validity = row.validity()?;

            let key = format!("the row for Ambito {ambito}, ASST {asst}, Distretto {distretto}");
            periods.record(&row, key, validity)?;
            define(
                &mut self.ats,
                ats.clone(),
                &row,
                "ATS",
                &["ats_name"],
                || Ats {
                    code: ats.clone(),
                    name: ats_name.to_owned(),
                },
            )?;
            define(
                &mut self.asst,
                asst.clone(),
                &row,
                "ASST",
                &["asst_name", "ats_code"],
                || Asst {
                    code: asst.clone(),
                    name: asst_name.to_owned(),
                    ats: ats.clone(),
                },
            )?;
            define(
                &mut self.distretti,
                distretto.clone(),
                &row,
                "Distretto",
                &["distretto_name"],
                || Distretto {
                    code: distretto.clone(),
                    name: distretto_name.to_owned(),
                },
            )?;
            define(
                &mut self.ambiti,
                ambito.clone(),
                &row,
                "Ambito",
                &["ambito_name", "sioss_code", "ats_code"],
                || Ambito {
                    code: ambito.clone(),
                    name: ambito_name.to_owned(),
                    sioss: sioss.clone(),
                    ats: ats.clone(),
                },
            )?;
            define(
                &mut sioss_owners,
                sioss,
                &row,
                "SIOSS code",
                &["ambito_code"],
                || (),
            )?;
            self.links.push(Link {
                ats,
                ambito,
                asst,
                distretto,
                validity,
            });
        }
        Ok(())
    }

    fn comuni(&mut self, file: &RegistryFile<'a>) -> Result<(), RegistryError> {
        let mut periods = Periods::default();
        for row in read_table(file, COMUNI_COLUMNS)? {
            let id: ComuneId = row.parse("comune_id")?;
            let name = row.required("name")?;
            let ambito: AmbitoCode = row.parse("ambito_code")?;
            let distretto: DistrettoCode = row.parse("distretto_code")?;
            let validity = row.validity()?;

            known(&self.ambiti, &ambito, &row, "Ambito", ALLEGATO_C)?;
            known(&self.distretti, &distretto, &row, "Distretto", ALLEGATO_C)?;
            if !self
                .links
                .iter()
                .any(|l| l.ambito == ambito && l.distretto == distretto)
            {
                return Err(row.error(format!(
                    "Distretto {distretto} is not listed under Ambito {ambito} in {ALLEGATO_C}"
                )));
            }
            periods.record(&row, format!("Comune {id}"), validity)?;
            let comune = define(
                &mut self.comuni,
                id.clone(),
                &row,
                "Comune",
                &["name"],
                || Comune {
                    id: id.clone(),
                    name: name.to_owned(),
                    memberships: Vec::new(),
                },
            )?;
            comune.memberships.push(Membership {
                ambito,
                distretto,
                validity,
            });
        }
        Ok(())
    }

    fn enti(&mut self, file: &RegistryFile<'a>) -> Result<(), RegistryError> {
        let mut periods = Periods::default();
        for row in read_table(file, ENTI_COLUMNS)? {
            let id: EnteId = row.parse("ente_id")?;
            let name = row.required("name")?;
            let ambito: AmbitoCode = row.parse("ambito_code")?;
            let validity = row.validity()?;

            known(&self.ambiti, &ambito, &row, "Ambito", ALLEGATO_C)?;
            periods.record(&row, format!("Ente {id}"), validity)?;
            let ente = define(
                &mut self.enti,
                id.clone(),
                &row,
                "Ente",
                &["name", "ambito_code"],
                || Ente {
                    id: id.clone(),
                    name: name.to_owned(),
                    ambito,
                    periods: Vec::new(),
                },
            )?;
            ente.periods.push(validity);
        }
        Ok(())
    }

    fn deliveries(&mut self, file: &RegistryFile<'a>) -> Result<(), RegistryError> {
        let mut periods = Periods::default();
        for row in read_table(file, DELIVERIES_COLUMNS)? {
            let comune: ComuneId = row.parse("comune_id")?;
            let ente: EnteId = row.parse("ente_id")?;
            let area: ServiceArea = row.parse("service_area")?;
            let validity = row.validity()?;

            known(&self.comuni, &comune, &row, "Comune", COMUNI)?;
            known(&self.enti, &ente, &row, "Ente", ENTI)?;
            let key = format!("the delivery of {area} for Comune {comune} by Ente {ente}");
            periods.record(&row, key, validity)?;
            self.deliveries.push(Delivery {
                comune,
                ente,
                area,
                validity,
            });
        }
        Ok(())
    }

    fn centri(&mut self, file: &RegistryFile<'a>) -> Result<(), RegistryError> {
        let mut periods = Periods::default();
        for row in read_table(file, CENTRI_COLUMNS)? {
            let id: CentroId = row.parse("centro_id")?;
            let name = row.required("name")?;
            let ambito: AmbitoCode = row.parse("ambito_code")?;
            let run_by: Option<OrgId> = row.optional("run_by")?;
            let validity = row.validity()?;

            known(&self.ambiti, &ambito, &row, "Ambito", ALLEGATO_C)?;
            if let Some(org) = &run_by
                && !self.knows(org)
            {
                return Err(row.error(format!(
                    "run_by {org} is not in the registry: add it to its file or leave run_by empty"
                )));
            }
            periods.record(&row, format!("Centro {id}"), validity)?;
            let centro = define(
                &mut self.centri,
                id.clone(),
                &row,
                "Centro",
                &["name", "ambito_code", "run_by"],
                || Centro {
                    id: id.clone(),
                    name: name.to_owned(),
                    ambito,
                    run_by,
                    periods: Vec::new(),
                },
            )?;
            centro.periods.push(validity);
        }
        Ok(())
    }

    fn knows(&self, org: &OrgId) -> bool {
        match org {
            OrgId::Ats(code) => self.ats.contains_key(code),
            OrgId::Asst(code) => self.asst.contains_key(code),
            OrgId::Ambito(code) => self.ambiti.contains_key(code),
            OrgId::Comune(id) => self.comuni.contains_key(id),
            OrgId::Ente(id) => self.enti.contains_key(id),
            OrgId::Centro(id) => self.centri.contains_key(id),
        }
    }

    fn finish(self) -> Registry {
        fn values<K: Ord, T>(map: DefinedMap<'_, K, T>) -> BTreeMap<K, T> {
            map.into_iter().map(|(key, d)| (key, d.value)).collect()
        }
        let mut registry = Registry {
            ats: values(self.ats),
            asst: values(self.asst),
            distretti: values(self.distretti),
            ambiti: values(self.ambiti),
            links: self.links,
            comuni: values(self.comuni),
            enti: values(self.enti),
            deliveries: self.deliveries,
            centri: values(self.centri),
        };
        for comune in registry.comuni.values_mut() {
            comune.memberships.sort_by_key(|m| m.validity.from);
        }
        for ente in registry.enti.values_mut() {
            ente.periods.sort_by_key(|p| p.from);
        }
        for centro in registry.centri.values_mut() {
            centro.periods.sort_by_key(|p| p.from);
        }
        registry
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn embedded() -> &'static Registry {
        Registry::embedded()
    }

    fn ids<T: fmt::Display>(items: Vec<&T>) -> Vec<String> {
        items.into_iter().map(ToString::to_string).collect()
    }

    fn ambito(code: &str) -> AmbitoCode {
        code.parse().unwrap()
    }

    fn comune(id: &str) -> ComuneId {
        id.parse().unwrap()
    }

    const START: Date = date!(2025 - 01 - 01);
    const BEFORE: Date = date!(2024 - 12 - 31);

    #[test]
    fn the_shipped_registry_parses_with_the_verified_totals() {
        let files = Registry::embedded_files();
        assert_eq!(files.map(|f| f.name), Registry::FILE_NAMES);
        assert_eq!(
            embedded().counts(),
            RegistryCounts {
                ats: 8,
                asst: 25,
                distretti: 86,
                ambiti: 91,
                comuni: 17,
                enti: 2,
                centri: 3,
            }
        );
        let ats: Vec<&str> = embedded().all_ats().map(|a| a.code.as_str()).collect();
        assert_eq!(
            ats,
            ["321", "322", "323", "324", "325", "326", "327", "328"]
        );
        let asst: Vec<u16> = embedded()
            .all_asst()
            .map(|a| a.code.as_str().parse().unwrap())
            .collect();
        let expected: Vec<u16> = (701..=727).filter(|c| ![704, 716].contains(c)).collect();
        assert_eq!(asst, expected);
    }

    #[test]
    fn milano_citta_spans_three_asst_and_nine_distretti() {
        let milano = ambito("50007");
        assert_eq!(
            ids(embedded().asst_of_ambito(&milano, START)),
            ["701", "702", "703"]
        );
        let distretti = ids(embedded().distretti_of_ambito(&milano, START));
        let expected: Vec<String> = (22101..=22109).map(|c| c.to_string()).collect();
        assert_eq!(distretti, expected);
        assert!(embedded().asst_of_ambito(&milano, BEFORE).is_empty());
    }

    #[test]
    fn distretto_22070_is_under_two_asst() {
        let oglio_po = ambito("50097");
        assert_eq!(
            ids(embedded().asst_of_ambito(&oglio_po, START)),
            ["724", "725"]
        );
        assert_eq!(
            ids(embedded().distretti_of_ambito(&oglio_po, START)),
            ["22070"]
        );
        for asst in ["724", "725"] {
            let ambiti = embedded().ambiti_of_asst(&asst.parse().unwrap(), START);
            assert!(ambiti.contains(&&oglio_po), "ASST {asst}: {ambiti:?}");
        }
    }

    #[test]
    fn fourteen_distretti_hold_more_than_one_ambito() {
        let mut ambiti_per_distretto: BTreeMap<&DistrettoCode, usize> = BTreeMap::new();
        for ambito in embedded().ambiti() {
            for distretto in embedded().distretti_of_ambito(&ambito.code, START) {
                *ambiti_per_distretto.entry(distretto).or_default() += 1;
            }
        }
        assert_eq!(ambiti_per_distretto.len(), 86);
        let shared: Vec<usize> = ambiti_per_distretto
            .into_values()
            .filter(|&n| n > 1)
            .collect();
        assert_eq!(shared.len(), 14);
        assert!(shared.iter().all(|&n| n <= 3));
    }

    #[test]
    fn page_breaks_and_typos_of_allegato_c_are_repaired() {
        let r = embedded();
        let name = |org: &str| r.org_name(&org.parse().unwrap()).unwrap().to_owned();
        assert_eq!(name("asst:703"), "ASST FATEBENEFRATELLI SACCO");
        assert_eq!(name("asst:713"), "ASST DELLA VALTELLINA E DELL'ALTO LARIO");
        assert_eq!(name("ats:321"), "ATS DELLA CITTA' METROPOLITANA DI MILANO");
        assert_eq!(name("ats:323"), "ATS DELLA MONTAGNA");
        assert_eq!(name("ats:327"), "ATS DELLA VAL PADANA");
        assert_eq!(
            name("ambito:50004"),
            "Isola Bergamasca e Bassa Val San Martino"
        );
        let seriate = r.distretto(&"22054".parse().unwrap()).unwrap();
        assert_eq!(seriate.name, "SERIATE E GRUMELLO");
        assert_eq!(r.ambito(&ambito("50032")).unwrap().sioss.as_str(), "lom_57");
    }

    #[test]
    fn cormano_hands_child_protection_to_ipis_in_2025() {
        let r = embedded();
        let cormano = comune("cormano");
        assert!(
            r.delivering_bodies(&cormano, ServiceArea::ChildProtection, BEFORE)
                .is_empty()
        );
        assert_eq!(
            ids(r.delivering_bodies(&cormano, ServiceArea::ChildProtection, START)),
            ["ipis"]
        );
        // The other three Comuni keep Tutela Minori in house.
        let bresso = comune("bresso");
        assert!(
            r.delivering_bodies(&bresso, ServiceArea::ChildProtection, START)
                .is_empty()
        );
        assert_eq!(
            ids(r.delivering_bodies(&bresso, ServiceArea::HomeCare, START)),
            ["ipis"]
        );
    }

    #[test]
    fn corbetta_runs_child_protection_itself_unlike_the_rest_of_the_magentino() {
        let r = embedded();
        let area = ServiceArea::ChildProtection;
        assert!(
            r.delivering_bodies(&comune("corbetta"), area, START)
                .is_empty()
        );
        let magenta = comune("magenta");
        assert_eq!(ids(r.delivering_bodies(&magenta, area, START)), ["ascsp"]);
        // The service contract expires on 31.12.2026.
        assert_eq!(
            ids(r.delivering_bodies(&magenta, area, date!(2026 - 12 - 31))),
            ["ascsp"]
        );
        assert!(
            r.delivering_bodies(&magenta, area, date!(2027 - 01 - 01))
                .is_empty()
        );
    }

    #[test]
    fn the_two_detailed_ambiti_have_their_comuni() {
        let r = embedded();
        let magentino = r.comuni_of_ambito(&ambito("50032"), START);
        assert_eq!(magentino.len(), 13);
        assert!(magentino.contains(&&comune("boffalora-sopra-ticino")));
        assert_eq!(
            ids(r.comuni_of_ambito(&ambito("50069"), START)),
            ["bresso", "cinisello-balsamo", "cormano", "cusano-milanino"]
        );
        assert!(r.comuni_of_ambito(&ambito("50069"), BEFORE).is_empty());
        assert_eq!(
            r.ambito_of_comune(&comune("cormano"), START),
            Some(&ambito("50069"))
        );
        assert_eq!(
            r.ats_of_ambito(&ambito("50069"), START)
                .map(AtsCode::as_str),
            Some("321")
        );
        assert_eq!(
            r.ats_of_asst(&"727".parse().unwrap()).map(AtsCode::as_str),
            Some("328")
        );
    }

    #[test]
    fn centri_and_organisations_are_in_force_only_in_their_periods() {
        let r = embedded();
        assert_eq!(
            ids(r.centri_of_ambito(&ambito("50069"), START)),
            ["officina-dei-legami"]
        );
        let centro = r.centro(&"officina-dei-legami".parse().unwrap()).unwrap();
        assert_eq!(centro.run_by, Some("ente:ipis".parse().unwrap()));
        assert_eq!(r.centri_of_ambito(&ambito("50032"), START).len(), 2);
        assert_eq!(
            ids(r.centri_of_ambito(&ambito("50032"), date!(2025 - 07 - 01))),
            ["spazio-famiglia-qui-si-puo"]
        );

        let active = |org: &str, on| r.org_active(&org.parse().unwrap(), on);
        assert!(active("comune:magenta", START));
        assert!(!active("comune:magenta", BEFORE));
        assert!(active("asst:707", START));
        assert!(!active("asst:704", START));
        assert!(active("ente:ipis", START));
        assert!(!active("ente:sercop", START));
        assert!(active("centro:ohana-nessuno-e-solo", date!(2025 - 06 - 30)));
        assert!(!active(
            "centro:ohana-nessuno-e-solo",
            date!(2025 - 07 - 01)
        ));
        assert_eq!(
            r.org_name(&"comune:cusano-milanino".parse().unwrap()),
            Some("Cusano Milanino")
        );
        assert_eq!(r.org_name(&"asst:704".parse().unwrap()), None);
    }

    #[test]
    fn validity_includes_its_start_and_excludes_its_end() {
        let v = Validity {
            from: START,
            until: Some(date!(2026 - 01 - 01)),
        };
        assert!(!v.contains(BEFORE));
        assert!(v.contains(START));
        assert!(v.contains(date!(2025 - 12 - 31)));
        assert!(!v.contains(date!(2026 - 01 - 01)));
        let open = Validity {
            from: START,
            until: None,
        };
        assert!(open.contains(date!(2999 - 01 - 01)));
        let next = Validity {
            from: date!(2026 - 01 - 01),
            until: None,
        };
        assert!(!v.overlaps(&next) && !next.overlaps(&v));
        assert!(open.overlaps(&next) && next.overlaps(&open));
    }

    #[test]
    fn service_areas_are_snake_case_in_json_and_text() {
        for area in ServiceArea::ALL {
            let json = serde_json::to_string(&area).unwrap();
            assert_eq!(json, format!("\"{area}\""));
            assert_eq!(area.as_str().parse::<ServiceArea>().unwrap(), area);
        }
        assert_eq!(
            serde_json::to_value(ServiceArea::ChildProtection).unwrap(),
            "child_protection"
        );
    }

    // Small registries written with '|' for tabs, so the columns line up for a reader.
    const ALLEGATO: &str = "\
# fixture
ats_code|ats_name|ambito_code|ambito_name|sioss_code|asst_code|asst_name|distretto_code|distretto_name|valid_from|valid_until
321|ATS MILANO|50069|Cinisello Balsamo|lom_51|707|ASST NORD MILANO|22008|PARCO NORD|2025-01-01|
321|ATS MILANO|50007|Milano Città|lom_49|701|ASST NIGUARDA|22109|MUNICIPIO 9|2025-01-01|";
    const COMUNI_FIXTURE: &str = "\
comune_id|name|ambito_code|distretto_code|valid_from|valid_until
cormano|Cormano|50069|22008|2025-01-01|";
    const ENTI_FIXTURE: &str = "\
ente_id|name|ambito_code|valid_from|valid_until
ipis|Azienda Speciale Consortile \"Insieme per il Sociale\"|50069|2025-01-01|";
    const DELIVERIES_FIXTURE: &str = "\
comune_id|ente_id|service_area|valid_from|valid_until

# from January 2025
cormano|ipis|child_protection|2025-01-01|";
    const CENTRI_FIXTURE: &str = "\
centro_id|name|ambito_code|run_by|valid_from|valid_until
officina|Centro per la Famiglia|50069|ente:ipis|2025-01-01|";

    fn tsv(text: &str) -> String {
        text.lines()
            .map(|line| line.split('|').collect::<Vec<_>>().join("\t"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The fixture with `file` replaced by `contents`.
    fn parse_with(file: &str, contents: &str) -> Result<Registry, RegistryError> {
        let files: Vec<(&str, String)> = [
            (ALLEGATO_C, ALLEGATO),
            (COMUNI, COMUNI_FIXTURE),
            (ENTI, ENTI_FIXTURE),
            (DELIVERIES, DELIVERIES_FIXTURE),
            (CENTRI, CENTRI_FIXTURE),
        ]
        .into_iter()
        .map(|(name, text)| (name, tsv(if name == file { contents } else { text })))
        .collect();
        let files: Vec<RegistryFile<'_>> = files
            .iter()
            .map(|(name, contents)| RegistryFile { name, contents })
            .collect();
        Registry::parse(&files)
    }

    #[test]
    fn the_fixture_parses_with_columns_in_any_order() {
        let registry = parse_with(ALLEGATO_C, ALLEGATO).unwrap();
        assert_eq!(registry.counts().ambiti, 2);
        let reordered = "\
valid_until|valid_from|name|comune_id|distretto_code|ambito_code
|2025-01-01|Cormano|cormano|22008|50069";
        let registry = parse_with(COMUNI, reordered).unwrap();
        assert_eq!(
            registry.ambito_of_comune(&comune("cormano"), START),
            Some(&ambito("50069"))
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let files = Registry::embedded_files();
        let err = Registry::parse(&files[..4]).unwrap_err();
        assert_eq!((err.file.as_str(), err.line), (CENTRI, 0));
        assert!(err.reason.contains("missing"), "{err}");
    }

    /// Each case: the file, its full contents, and the line and words the error must carry.
    #[test]
    fn malformed_rows_are_refused_with_file_line_and_reason() {
        let with = |base: &str, extra: &str| format!("{base}\n{extra}");
        let cases: Vec<(&str, String, usize, &str)> = vec![
            (
                ALLEGATO_C,
                with(ALLEGATO, "321|ATS MILANO|50032|Magentino|lom_57|705"),
                5,
                "expected 11 tab-separated columns",
            ),
            (
                ALLEGATO_C,
                with(
                    ALLEGATO,
                    "321|ATS MILANO|5003|Magentino|lom_57|705|ASST OVEST MILANESE|22004|MAGENTINO|2025-01-01|",
                ),
                5,
                "ambito_code: Ambito code '5003' is not valid: expected five digits starting with 500",
            ),
            (
                ALLEGATO_C,
                with(
                    ALLEGATO,
                    "321|ATS MILANO|50069|Cinisello|lom_51|707|ASST NORD MILANO|22009|SESTO|2025-01-01|",
                ),
                5,
                "Ambito 50069: ambito_name 'Cinisello' disagrees with 'Cinisello Balsamo' on line 3",
            ),
            (
                ALLEGATO_C,
                with(
                    ALLEGATO,
                    "322|ATS INSUBRIA|50030|Arcisate|lom_86|707|ASST NORD MILANO|22017|ARCISATE|2025-01-01|",
                ),
                5,
                "ASST 707: ats_code '322' disagrees with '321' on line 3",
            ),
            (
                ALLEGATO_C,
                with(
                    ALLEGATO,
                    "321|ATS MILANO|50032|Magentino|lom_51|705|ASST OVEST MILANESE|22004|MAGENTINO|2025-01-01|",
                ),
                5,
                "SIOSS code lom_51: ambito_code '50032' disagrees with '50069' on line 3",
            ),
            (
                ALLEGATO_C,
                with(
                    ALLEGATO,
                    "321|ATS MILANO|50069|Cinisello Balsamo|lom_51|707|ASST NORD MILANO|22008|PARCO NORD|2025-01-01|",
                ),
                5,
                "duplicate of line 3",
            ),
            (
                ALLEGATO_C,
                with(
                    ALLEGATO,
                    "321|ATS MILANO|50069|Cinisello Balsamo|lom_51|707|ASST NORD MILANO|22008|PARCO NORD|2026-01-01|",
                ),
                5,
                "the row for Ambito 50069, ASST 707, Distretto 22008 is already in force from 2025-01-01 with no end (line 3)",
            ),
            (
                COMUNI,
                "# only a comment".to_owned(),
                1,
                "no header line: expected the columns comune_id, name",
            ),
            (
                COMUNI,
                "comune_id|name|ambito_code|distretto_code|valid_from".to_owned(),
                1,
                "missing column 'valid_until'",
            ),
            (
                COMUNI,
                "comune_id|name|istat|ambito_code|distretto_code|valid_from|valid_until".to_owned(),
                1,
                "unknown column 'istat'",
            ),
            (
                COMUNI,
                with(COMUNI_FIXTURE, "bresso|Bresso|50033|22008|2025-01-01|"),
                3,
                "unknown Ambito 50033: it is not in allegato_c.tsv",
            ),
            (
                COMUNI,
                with(COMUNI_FIXTURE, "bresso|Bresso|50069|22109|2025-01-01|"),
                3,
                "Distretto 22109 is not listed under Ambito 50069",
            ),
            (
                COMUNI,
                with(COMUNI_FIXTURE, "bresso|Bresso|50069|22008|2025-02-30|"),
                3,
                "valid_from '2025-02-30' is not a date: expected YYYY-MM-DD",
            ),
            (
                COMUNI,
                with(
                    COMUNI_FIXTURE,
                    "bresso|Bresso|50069|22008|2025-01-01|2025-01-01",
                ),
                3,
                "valid_until 2025-01-01 is not after valid_from 2025-01-01",
            ),
            (
                COMUNI,
                with(
                    COMUNI_FIXTURE,
                    "cormano|Cormano|50007|22109|2024-01-01|2025-06-01",
                ),
                3,
                "Comune cormano is already in force from 2025-01-01 with no end (line 2)",
            ),
            (
                COMUNI,
                with(
                    COMUNI_FIXTURE,
                    "cormano|Cormano M.|50069|22008|2024-01-01|2025-01-01",
                ),
                3,
                "Comune cormano: name 'Cormano M.' disagrees with 'Cormano' on line 2",
            ),
            (
                ENTI,
                with(ENTI_FIXTURE, "sercop|Sercop|50095|2025-01-01|"),
                3,
                "unknown Ambito 50095",
            ),
            (
                DELIVERIES,
                with(DELIVERIES_FIXTURE, "bresso|ipis|home_care|2025-01-01|"),
                5,
                "unknown Comune bresso: it is not in comuni.tsv",
            ),
            (
                DELIVERIES,
                with(DELIVERIES_FIXTURE, "cormano|sercop|home_care|2025-01-01|"),
                5,
                "unknown Ente sercop: it is not in enti.tsv",
            ),
            (
                DELIVERIES,
                with(DELIVERIES_FIXTURE, "cormano|ipis|tutela|2025-01-01|"),
                5,
                "service_area: service area 'tutela' is not valid",
            ),
            (
                DELIVERIES,
                with(DELIVERIES_FIXTURE, "cormano||home_care|2025-01-01|"),
                5,
                "ente_id is empty",
            ),
            (
                CENTRI,
                with(CENTRI_FIXTURE, "ohana|OHANA|50069|ente:sercop|2025-01-01|"),
                3,
                "run_by ente:sercop is not in the registry",
            ),
            (
                CENTRI,
                with(CENTRI_FIXTURE, "ohana|OHANA|50069|ipis|2025-01-01|"),
                3,
                "run_by: organisation id 'ipis' is not valid",
            ),
        ];
        for (file, contents, line, reason) in cases {
            let err = parse_with(file, &contents).expect_err(&contents);
            assert_eq!(err.file, file, "{err}");
            assert_eq!(err.line, line, "{err}");
            assert!(err.reason.contains(reason), "expected '{reason}' in: {err}");
        }
    }
}
