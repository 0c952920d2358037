//! Parsing request bodies and queries into domain values, collecting every problem so a 400
//! names all offending fields at once. Unknown fields are refused, as Stripe does: a typo
//! must not be silently ignored.

use super::error::ApiError;
use crate::domain::ObjectId;
use serde_json::{Map, Value};
use state_machines::{Cents, MAX_CENTS};
use std::collections::BTreeMap;

/// Metadata limits, as Stripe's.
const METADATA_KEYS: usize = 50;
const METADATA_KEY_LEN: usize = 40;
const METADATA_VALUE_LEN: usize = 500;
const TEXT_LEN: usize = 500;

/// Bounds on a body's shape, whatever the endpoint: our requests nest three levels at most,
/// and no field takes more than a few hundred characters. serde_json's own recursion limit
/// (128) keeps the parser's stack bounded before these run.
const MAX_DEPTH: usize = 8;
const MAX_STRING: usize = 5_000;

/// Parse a body as a JSON object (an empty body is an empty object).
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            check_shape(&map, "", 1)?;
            Ok(map)
        }
        Ok(_) => Err(ApiError::BadRequest(
            "the request body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::BadRequest(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// Refuse nesting deeper than `MAX_DEPTH` and strings (keys too) longer than `MAX_STRING`,
/// naming where.
fn check_shape(obj: &Map<String, Value>, path: &str, depth: usize) -> Result<(), ApiError> {
    let too_deep = |at: &str| {
        ApiError::BadRequest(format!(
            "{at} nests deeper than {MAX_DEPTH} levels; no field of this API does"
        ))
    };
    if depth > MAX_DEPTH {
        return Err(too_deep(path.trim_end_matches('.')));
    }
    for (key, value) in obj {
        let name = format!("{path}{}", truncated(key));
        if key.len() > MAX_STRING {
            return Err(ApiError::BadRequest(format!(
                "a field name is longer than {MAX_STRING} characters ({name}…)"
            )));
        }
        check_value(value, &name, depth)?;
    }
    Ok(())
}

fn check_value(value: &Value, name: &str, depth: usize) -> Result<(), ApiError> {
    match value {
        Value::String(s) if s.chars().count() > MAX_STRING => Err(ApiError::BadRequest(format!(
            "{name} is longer than {MAX_STRING} characters"
        ))),
        Value::Object(inner) => check_shape(inner, &format!("{name}."), depth + 1),
        Value::Array(items) if depth + 1 > MAX_DEPTH => Err(ApiError::BadRequest(format!(
            "{name} nests deeper than {MAX_DEPTH} levels; no field of this API does"
        ))),
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| check_value(item, &format!("{name}[]"), depth + 1)),
        _ => Ok(()),
    }
}

fn truncated(key: &str) -> String {
    key.chars().take(40).collect()
}

/// A JSON number without a fractional part, as JSON Schema's `integer` reads it: `1500` and
/// `1500.0` are the same number of cents; `1500.5` is not a number of cents.
pub fn whole_number(v: &Value) -> Option<i128> {
    if let Some(n) = v.as_i64() {
        return Some(n.into());
    }
    if let Some(n) = v.as_u64() {
        return Some(n.into());
    }
    // Beyond 2^53 a float no longer holds every whole number exactly.
    v.as_f64()
        .filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0)
        .map(|f| f as i128)
}

/// Reads fields of one JSON object, recording problems instead of stopping at the first.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    path: String,
    missing: Vec<String>,
    problems: Vec<String>,
}

impl<'a> Fields<'a> {
    pub fn new(obj: &'a Map<String, Value>) -> Fields<'a> {
        Fields {
            obj,
            path: String::new(),
            missing: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.path)
    }

    /// `None` when absent or null.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn problem(&mut self, message: String) {
        self.problems.push(message);
    }

    fn require<T>(&mut self, key: &str, value: Option<T>) -> Option<T> {
        if value.is_none() && !self.has(key) {
            self.missing.push(self.name(key));
        }
        value
    }

    pub fn id(&mut self, key: &str) -> Option<ObjectId> {
        let v = self.get(key)?;
        match v.as_str().map(str::parse::<ObjectId>) {
            Some(Ok(id)) => Some(id),
            _ => {
                self.problems.push(format!(
                    "{} must be a 24-character hex ObjectId",
                    self.name(key)
                ));
                None
            }
        }
    }

    pub fn required_id(&mut self, key: &str) -> Option<ObjectId> {
        let v = self.id(key);
        self.require(key, v)
    }

    pub fn cents(&mut self, key: &str) -> Option<Cents> {
        self.cents_up_to(key, MAX_CENTS)
    }

    /// Cents from 1 to `max`.
    pub fn cents_up_to(&mut self, key: &str, max: u64) -> Option<Cents> {
        let v = self.get(key)?;
        match whole_number(v)
            .filter(|n| *n <= max as i128)
            .map(Cents::positive)
        {
            Some(Ok(c)) => Some(c),
            _ => {
                self.problems.push(format!(
                    "{} must be a whole number of cents from 1 to {max} (e.g. 150000 for $1,500.00)",
                    self.name(key)
                ));
                None
            }
        }
    }

    pub fn required_cents(&mut self, key: &str) -> Option<Cents> {
        let v = self.cents(key);
        self.require(key, v)
    }

    pub fn required_cents_up_to(&mut self, key: &str, max: u64) -> Option<Cents> {
        let v = self.cents_up_to(key, max);
        self.require(key, v)
    }

    pub fn integer(&mut self, key: &str, min: u64, max: u64) -> Option<u64> {
        let v = self.get(key)?;
        match whole_number(v)
            .filter(|n| (min as i128..=max as i128).contains(n))
            .map(|n| n as u64)
        {
            Some(n) => Some(n),
            None => {
                self.problems.push(format!(
                    "{} must be a whole number from {min} to {max}",
                    self.name(key)
                ));
                None
            }
        }
    }

    pub fn text(&mut self, key: &str) -> Option<String> {
        let v = self.get(key)?;
        match v.as_str() {
            Some(s) if s.chars().count() <= TEXT_LEN => Some(s.to_string()),
            Some(_) => {
                self.problems.push(format!(
                    "{} must be at most {TEXT_LEN} characters",
                    self.name(key)
                ));
                None
            }
            None => {
                self.problems
                    .push(format!("{} must be a string", self.name(key)));
                None
            }
        }
    }

    pub fn required_text(&mut self, key: &str) -> Option<String> {
        let v = self.text(key);
        self.require(key, v)
    }

    /// One of `allowed`, mapped by `parse`.
    pub fn one_of<T>(
        &mut self,
        key: &str,
        allowed: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let v = self.get(key)?;
        match v.as_str().and_then(&parse) {
            Some(t) => Some(t),
            None => {
                self.problems.push(format!(
                    "{} must be one of: {}",
                    self.name(key),
                    allowed.join(", ")
                ));
                None
            }
        }
    }

    /// A nested object, read with its own `Fields` whose problems are merged back.
    pub fn object<T>(
        &mut self,
        key: &str,
        known: &[&str],
        read: impl FnOnce(&mut Fields<'a>) -> T,
    ) -> Option<T> {
        let v = self.get(key)?;
        let Some(obj) = v.as_object() else {
            self.problems
                .push(format!("{} must be an object", self.name(key)));
            return None;
        };
        let mut inner = Fields {
            obj,
            path: format!("{}.", self.name(key)),
            missing: Vec::new(),
            problems: Vec::new(),
        };
        inner.refuse_unknown(known);
        let value = read(&mut inner);
        self.missing.append(&mut inner.missing);
        self.problems.append(&mut inner.problems);
        Some(value)
    }

    /// String-to-string metadata with Stripe's limits.
    pub fn metadata(&mut self, key: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(v) = self.get(key) else { return out };
        let Some(obj) = v.as_object() else {
            self.problems
                .push(format!("{key} must be an object of string values"));
            return out;
        };
        if obj.len() > METADATA_KEYS {
            self.problems
                .push(format!("{key} may have at most {METADATA_KEYS} keys"));
        }
        for (k, v) in obj {
            match v.as_str() {
                _ if k.is_empty() || k.chars().count() > METADATA_KEY_LEN => self.problems.push(
                    format!("{key} keys must be 1 to {METADATA_KEY_LEN} characters ({k:?})"),
                ),
                Some(s) if s.chars().count() <= METADATA_VALUE_LEN => {
                    drop(out.insert(k.clone(), s.to_string()))
                }
                Some(_) => self.problems.push(format!(
                    "{key}.{k} must be at most {METADATA_VALUE_LEN} characters"
                )),
                None => self.problems.push(format!("{key}.{k} must be a string")),
            }
        }
        out
    }

    /// A list of strings, each one of `allowed`, at least one, duplicates dropped.
    pub fn list_of(&mut self, key: &str, allowed: &[&str]) -> Option<Vec<String>> {
        let v = self.get(key)?;
        let items = v
            .as_array()
            .map(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>());
        match items {
            Some(Some(items)) if !items.is_empty() && items.iter().all(|i| allowed.contains(i)) => {
                let mut out: Vec<String> = Vec::new();
                for item in items {
                    if !out.iter().any(|o| o == item) {
                        out.push(item.to_string());
                    }
                }
                Some(out)
            }
            _ => {
                self.problems.push(format!(
                    "{} must be a non-empty array of: {}",
                    self.name(key),
                    allowed.join(", ")
                ));
                None
            }
        }
    }

    pub fn required_list_of(&mut self, key: &str, allowed: &[&str]) -> Option<Vec<String>> {
        let v = self.list_of(key, allowed);
        self.require(key, v)
    }

    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        let v = self.get(key)?;
        match v.as_bool() {
            Some(b) => Some(b),
            None => {
                self.problems
                    .push(format!("{} must be true or false", self.name(key)));
                None
            }
        }
    }

    pub fn refuse_unknown(&mut self, known: &[&str]) {
        for key in self.obj.keys() {
            if !known.contains(&key.as_str()) {
                self.problems
                    .push(format!("unknown field {}", self.name(key)));
            }
        }
    }

    /// Ok when nothing was missing or wrong; else one 400 naming everything.
    pub fn finish(self) -> Result<(), ApiError> {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!("Required fields: {}", self.missing.join(", ")));
        }
        parts.extend(self.problems);
        if parts.is_empty() {
            Ok(())
        } else {
            Err(ApiError::BadRequest(parts.join("; ")))
        }
    }
}

/// List query parameters: page ≥ 1, limit 1–100 (default 50), plus filters.
pub struct ListQuery {
    pub page: u64,
    pub limit: u64,
    pub carrier_id: Option<ObjectId>,
    pub employer_id: Option<ObjectId>,
    pub status: Option<String>,
}

impl ListQuery {
    /// Whether a record with these fields passes the filters.
    pub fn matches(&self, carrier: ObjectId, employer: ObjectId, status: &str) -> bool {
        self.carrier_id.is_none_or(|c| c == carrier)
            && self.employer_id.is_none_or(|e| e == employer)
            && self.status.as_deref().is_none_or(|s| s == status)
    }
}

/// Query parameters as an object of strings, read with `Fields` like a body.
fn query_object(params: &BTreeMap<String, String>) -> Map<String, Value> {
    params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// `page` (≥ 1, default 1) and `limit` (1–100, default 50) of a list query.
fn page_and_limit(f: &mut Fields, params: &BTreeMap<String, String>) -> (u64, u64) {
    let mut number = |key: &str, min: u64, max: u64, default: u64| match params.get(key) {
        None => default,
        Some(s) => match s.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                f.problem(format!("{key} must be a whole number from {min} to {max}"));
                default
            }
        },
    };
    (number("page", 1, 1_000_000, 1), number("limit", 1, 100, 50))
}

pub fn list_query(
    params: &BTreeMap<String, String>,
    statuses: &[&str],
) -> Result<ListQuery, ApiError> {
    let obj = query_object(params);
    let mut f = Fields::new(&obj);
    f.refuse_unknown(&["page", "limit", "carrier_id", "employer_id", "status"]);
    let (page, limit) = page_and_limit(&mut f, params);
    let query = ListQuery {
        page,
        limit,
        carrier_id: f.id("carrier_id"),
        employer_id: f.id("employer_id"),
        status: f.one_of("status", statuses, |s| {
            statuses.contains(&s).then(|| s.to_string())
        }),
    };
    f.finish()?;
    Ok(query)
}

/// `page` and `limit` plus the given filters, as text; any other parameter is refused.
pub fn page_query(
    params: &BTreeMap<String, String>,
    filters: &[&str],
) -> Result<(u64, u64), ApiError> {
    let obj = query_object(params);
    let mut f = Fields::new(&obj);
    let mut known = vec!["page", "limit"];
    known.extend_from_slice(filters);
    f.refuse_unknown(&known);
    let page = page_and_limit(&mut f, params);
    f.finish()?;
    Ok(page)
}
