//! The form-encoded request side of the RDS Query protocol: `Action=…&Version=…` plus flattened lists such
//! as `Parameters.Parameter.1.ParameterName=…` and `Filters.Filter.1.Values.Value.1=…`.
//!
//! List members are matched by position, not by the member name in the middle (`Parameter`, `Filter`,
//! `member`), because the SDK and botocore spell that segment differently for some shapes.

use std::collections::BTreeMap;

use super::xml::RdsError;

#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(body: &[u8]) -> Self {
        Query { pairs: form_urlencoded::parse(body).into_owned().collect() }
    }

    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Query { pairs }
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A required member, answered with `MissingParameter` when absent or empty, like RDS does.
    pub fn require(&self, key: &str) -> Result<&str, RdsError> {
        self.get(key).filter(|v| !v.is_empty()).ok_or_else(|| RdsError::missing(key))
    }

    pub fn action(&self) -> &str {
        self.get("Action").unwrap_or("")
    }

    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub fn set(&mut self, key: &str, value: &str) {
        match self.pairs.iter_mut().find(|(k, _)| k == key) {
            Some(p) => p.1 = value.to_string(),
            None => self.pairs.push((key.to_string(), value.to_string())),
        }
    }

    pub fn remove(&mut self, key: &str) {
        self.pairs.retain(|(k, _)| k != key);
    }

    pub fn encode(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            s.append_pair(k, v);
        }
        s.finish()
    }

    /// The members of list `prefix` (e.g. `Parameters`) in index order, each as its field → value map
    /// (`ParameterName`, `ApplyMethod`, or nested keys like `Values.Value.1`).
    pub fn members(&self, prefix: &str) -> Vec<BTreeMap<String, String>> {
        let mut by_index: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        let lead = format!("{prefix}.");
        for (k, v) in &self.pairs {
            let Some(rest) = k.strip_prefix(&lead) else {
                continue;
            };
            let mut segs = rest.splitn(3, '.');
            let (Some(_member), Some(index), Some(field)) = (segs.next(), segs.next(), segs.next()) else {
                continue;
            };
            let Ok(index) = index.parse::<u32>() else {
                continue;
            };
            by_index.entry(index).or_default().insert(field.to_string(), v.clone());
        }
        by_index.into_values().collect()
    }

    /// The values of a flat list inside a member map, e.g. `Values.Value.N` of one filter.
    pub fn list_in(member: &BTreeMap<String, String>, prefix: &str) -> Vec<String> {
        let lead = format!("{prefix}.");
        let mut items: Vec<(u32, String)> = member
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(&lead)?;
                let index = rest.rsplit('.').next()?.parse().ok()?;
                Some((index, v.clone()))
            })
            .collect();
        items.sort();
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// `Tags.Tag.N.Key/Value` pairs.
    pub fn tags(&self) -> Vec<(String, String)> {
        self.members("Tags")
            .into_iter()
            .filter_map(|m| Some((m.get("Key")?.clone(), m.get("Value").cloned().unwrap_or_default())))
            .collect()
    }
}

/// One page of `items` for `MaxRecords`/`Marker` (RDS: 20–100, default 100), and the marker of the next page.
/// The marker is opaque to callers; here it is the offset of the next item.
pub(crate) fn paginate<T>(items: Vec<T>, query: &Query) -> Result<(Vec<T>, Option<String>), RdsError> {
    let max = match query.get("MaxRecords") {
        None => 100,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (20..=100).contains(&n) => n as usize,
            _ => {
                return Err(RdsError::invalid_value(format!(
                    "Invalid value {raw} for MaxRecords. Must be between 20 and 100"
                )));
            }
        },
    };
    let start = match query.get("Marker") {
        None | Some("") => 0,
        Some(m) => m
            .strip_prefix(MARKER_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n <= items.len())
            .ok_or_else(|| RdsError::invalid_value(format!("Invalid marker: {m}")))?,
    };
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| format!("{MARKER_PREFIX}{end}"));
    Ok((items.into_iter().skip(start).take(end - start).collect(), next))
}

const MARKER_PREFIX: &str = "standin-page-";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattened_lists() {
        let q = Query::parse(
            b"Action=DescribeDBClusterParameters&Filters.Filter.1.Name=parameter-name\
              &Filters.Filter.1.Values.Value.2=b&Filters.Filter.1.Values.Value.1=a\
              &Parameters.Parameter.2.ParameterName=y&Parameters.Parameter.1.ParameterName=x",
        );
        assert_eq!(q.action(), "DescribeDBClusterParameters");
        let filters = q.members("Filters");
        assert_eq!(filters[0]["Name"], "parameter-name");
        assert_eq!(Query::list_in(&filters[0], "Values"), vec!["a", "b"]);
        let params: Vec<_> = q.members("Parameters").into_iter().map(|m| m["ParameterName"].clone()).collect();
        assert_eq!(params, vec!["x", "y"]);
    }

    #[test]
    fn pages() {
        let q = Query::parse(b"MaxRecords=20");
        let (page, next) = paginate((0..45).collect(), &q).unwrap();
        assert_eq!((page.len(), next.as_deref()), (20, Some("standin-page-20")));
        let q = Query::parse(b"MaxRecords=20&Marker=standin-page-40");
        let (page, next) = paginate((0..45).collect(), &q).unwrap();
        assert_eq!((page, next), (vec![40, 41, 42, 43, 44], None));
        assert_eq!(
            paginate((0..5).collect::<Vec<i32>>(), &Query::parse(b"MaxRecords=19")).unwrap_err().code,
            "InvalidParameterValue"
        );
        assert!(paginate((0..5).collect::<Vec<i32>>(), &Query::parse(b"Marker=zzz")).is_err());
    }
}
