//! DB cluster parameter groups, owned by the fidelity layer rather than moto: the read-only
//! `default.aurora-postgresqlNN` groups, custom groups that start from the family's catalog, `Source=user`
//! for what was set, and the RDS validation rules of create/modify/reset/copy/delete (aws.md §1.3–§1.6).
//!
//! Owning the groups outright (instead of seeding moto's and patching its answers) is what makes
//! pagination, filters, `Source` and the validation rules exact; moto only ever sees the group *name* on
//! clusters. Actions here answer with finished XML bodies or an [`RdsError`].

use std::collections::BTreeMap;

use super::catalog::{self, CatalogEntry};
use super::query::{Query, paginate};
use super::xml::{self, Element, RdsError};

/// The account moto puts in every ARN unless told otherwise.
pub(crate) const ACCOUNT: &str = "123456789012";
/// AWS's limit on parameters per `ModifyDBClusterParameterGroup` / `ResetDBClusterParameterGroup`.
pub const MAX_PARAMETERS_PER_CALL: usize = 20;

#[derive(Clone, Debug)]
pub(crate) struct UserValue {
    pub value: String,
    pub apply_method: String,
}

#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub name: String,
    pub family: String,
    pub description: String,
    pub values: BTreeMap<String, UserValue>,
    pub tags: Vec<(String, String)>,
}

impl Group {
    pub fn is_default(&self) -> bool {
        self.name.starts_with("default.")
    }

    /// Every parameter of the family with this group's value and `Source`.
    fn parameters(&self) -> Vec<(&'static CatalogEntry, Option<&UserValue>)> {
        catalog::family_parameters(&self.family)
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e, self.values.get(&e.name)))
            .collect()
    }

    /// `name → value` as the engine sees it (user value, else the engine default, else none).
    pub fn effective_values(&self) -> BTreeMap<String, Option<String>> {
        self.parameters()
            .into_iter()
            .map(|(e, user)| (e.name.clone(), user.map(|u| u.value.clone()).or_else(|| e.value.clone())))
            .collect()
    }

    fn to_xml(&self, region: &str) -> Element {
        let mut g = Element::new("DBClusterParameterGroup");
        g.push(Element::text_node("DBClusterParameterGroupName", &self.name));
        g.push(Element::text_node("DBParameterGroupFamily", &self.family));
        g.push(Element::text_node("Description", &self.description));
        g.push(Element::text_node("DBClusterParameterGroupArn", arn(region, &self.name)));
        g
    }
}

pub(crate) fn arn(region: &str, name: &str) -> String {
    format!("arn:aws:rds:{region}:{ACCOUNT}:cluster-pg:{name}")
}

fn parameter_xml(entry: &CatalogEntry, user: Option<&UserValue>) -> Element {
    let mut p = Element::new("Parameter");
    p.push(Element::text_node("ParameterName", &entry.name));
    p.push_opt("ParameterValue", user.map(|u| u.value.as_str()).or(entry.value.as_deref()));
    p.push(Element::text_node("Description", &entry.description));
    p.push(Element::text_node("Source", if user.is_some() { "user" } else { entry.source.as_str() }));
    p.push(Element::text_node("ApplyType", &entry.apply_type));
    p.push(Element::text_node("DataType", &entry.data_type));
    p.push_opt("AllowedValues", entry.allowed_values.as_deref());
    p.push(Element::text_node("IsModifiable", if entry.modifiable { "true" } else { "false" }));
    // Engine defaults report `pending-reboot` even for dynamic parameters (aws.md §1.5).
    p.push(Element::text_node("ApplyMethod", user.map_or("pending-reboot", |u| u.apply_method.as_str())));
    let mut modes = Element::new("SupportedEngineModes");
    modes.push(Element::text_node("member", "provisioned"));
    p.push(modes);
    p
}

/// What a modify or reset did, for the cluster side: whether members of clusters using the group now need
/// a reboot, and which dynamic parameters took effect at once.
#[derive(Debug)]
pub(crate) struct Change {
    pub group: String,
    pub needs_reboot: bool,
    pub applied_now: Vec<String>,
}

/// A parameter change as validated: name, value, apply method.
struct Edit {
    name: String,
    value: Option<String>,
    apply_method: String,
}

pub(crate) struct Groups {
    region: String,
    map: BTreeMap<String, Group>,
}

/// AWS identifier rule for parameter group names.
fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn check_new_name(name: &str, parameter: &str) -> Result<String, RdsError> {
    if !valid_identifier(name) {
        return Err(RdsError::invalid_value(format!(
            "The parameter {parameter} is not a valid identifier. Identifiers must begin with a letter; must \
             contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two \
             consecutive hyphens."
        )));
    }
    // RDS stores parameter group names in lower case.
    Ok(name.to_ascii_lowercase())
}

impl Groups {
    pub fn new(region: &str) -> Self {
        let mut map = BTreeMap::new();
        for major in catalog::MAJORS {
            let family = format!("{}{major}", catalog::ENGINE);
            let name = catalog::default_group_name(&family);
            let description = format!("Default cluster parameter group for {family}");
            map.insert(name.clone(), Group { name, family, description, values: BTreeMap::new(), tags: Vec::new() });
        }
        Groups { region: region.to_string(), map }
    }

    /// Every group's name.
    pub fn names(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<&Group> {
        self.map.get(&name.to_ascii_lowercase())
    }

    fn get_or_404(&self, name: &str) -> Result<&Group, RdsError> {
        self.get(name).ok_or_else(|| RdsError::group_not_found(name))
    }

    /// Creates a custom group directly (seeding), with `values` set as the user would have set them.
    pub fn seed(
        &mut self,
        name: &str,
        family: &str,
        description: &str,
        values: &[(String, String)],
    ) -> Result<(), RdsError> {
        let name = self.insert_new(name, family, description, Vec::new())?;
        let edits = values
            .iter()
            .map(|(n, v)| {
                let static_ = catalog::lookup(family, n).is_some_and(CatalogEntry::is_static);
                let method = if static_ { "pending-reboot" } else { "immediate" };
                Edit { name: n.clone(), value: Some(v.clone()), apply_method: method.into() }
            })
            .collect::<Vec<_>>();
        let result = self.validate_edits(&name, edits, false).map(|edits| self.apply(&name, edits));
        if result.is_err() {
            self.map.remove(&name);
        }
        result.map(|_| ())
    }

    fn insert_new(
        &mut self,
        name: &str,
        family: &str,
        description: &str,
        tags: Vec<(String, String)>,
    ) -> Result<String, RdsError> {
        let name = check_new_name(name, "DBClusterParameterGroupName")?;
        if catalog::family_parameters(family).is_none() {
            return Err(RdsError::invalid_value(format!(
                "DBParameterGroupFamily {family} is not a valid parameter group family for engine {}.",
                catalog::ENGINE
            )));
        }
        if self.map.contains_key(&name) {
            return Err(RdsError::new(
                400,
                "DBParameterGroupAlreadyExists",
                format!("Parameter group {name} already exists"),
            ));
        }
        let group = Group {
            name: name.clone(),
            family: family.to_string(),
            description: description.to_string(),
            values: BTreeMap::new(),
            tags,
        };
        self.map.insert(name.clone(), group);
        Ok(name)
    }

    pub fn create(&mut self, q: &Query) -> Result<String, RdsError> {
        let name = q.require("DBClusterParameterGroupName")?;
        let family = q.require("DBParameterGroupFamily")?;
        let description = q.require("Description")?;
        let name = self.insert_new(name, family, description, q.tags())?;
        let xml = self.map[&name].to_xml(&self.region);
        Ok(xml::response(q.action(), Some(vec![xml])))
    }

    pub fn copy(&mut self, q: &Query) -> Result<String, RdsError> {
        let source = q.require("SourceDBClusterParameterGroupIdentifier")?;
        let target = q.require("TargetDBClusterParameterGroupIdentifier")?;
        let description = q.require("TargetDBClusterParameterGroupDescription")?;
        // The source may be given by name or by ARN.
        let source_name = source.rsplit_once(":cluster-pg:").map_or(source, |(_, n)| n);
        let source = self.get_or_404(source_name)?.clone();
        if source.is_default() {
            return Err(RdsError::invalid_value(format!(
                "You can't copy a default DB cluster parameter group: {}. Create a new DB cluster parameter \
                 group in family {} instead.",
                source.name, source.family
            )));
        }
        let name = self.insert_new(target, &source.family, description, q.tags())?;
        let copy = self.map.get_mut(&name).expect("just inserted");
        copy.values = source.values;
        let xml = copy.to_xml(&self.region);
        Ok(xml::response(q.action(), Some(vec![xml])))
    }

    /// `clusters_using`: the clusters whose group is `name` (from moto), which make it undeletable.
    pub fn delete(&mut self, q: &Query, clusters_using: &[String]) -> Result<String, RdsError> {
        let name = q.require("DBClusterParameterGroupName")?;
        let group = self.get_or_404(name)?;
        if group.is_default() {
            return Err(RdsError::new(
                400,
                "InvalidDBParameterGroupState",
                format!("Default DBClusterParameterGroup cannot be deleted: {}", group.name),
            ));
        }
        if !clusters_using.is_empty() {
            return Err(RdsError::new(
                400,
                "InvalidDBParameterGroupState",
                format!(
                    "One or more DB clusters are still associated with DB cluster parameter group {}, so it \
                     cannot be deleted: {}",
                    group.name,
                    clusters_using.join(", ")
                ),
            ));
        }
        let key = group.name.clone();
        self.map.remove(&key);
        Ok(xml::response(q.action(), None))
    }

    pub fn describe_groups(&self, q: &Query) -> Result<String, RdsError> {
        let groups: Vec<&Group> = match q.get("DBClusterParameterGroupName") {
            Some(name) => vec![self.get_or_404(name)?],
            None => self.map.values().collect(),
        };
        let (page, marker) = paginate(groups, q)?;
        let mut list = Element::new("DBClusterParameterGroups");
        for g in page {
            list.push(g.to_xml(&self.region));
        }
        let mut out = vec![list];
        if let Some(m) = marker {
            out.push(Element::text_node("Marker", m));
        }
        Ok(xml::response(q.action(), Some(out)))
    }

    pub fn describe_parameters(&self, q: &Query) -> Result<String, RdsError> {
        let group = self.get_or_404(q.require("DBClusterParameterGroupName")?)?;
        let source = q.get("Source");
        if let Some(s) = source
            && !["engine-default", "system", "user"].contains(&s)
        {
            return Err(RdsError::invalid_value(format!(
                "Invalid value {s} for Source. Must be one of engine-default, system, user"
            )));
        }
        let names = name_filter(q)?;
        let params: Vec<_> = group
            .parameters()
            .into_iter()
            .filter(|(e, user)| match source {
                Some("user") => user.is_some(),
                Some(s) => user.is_none() && e.source == s,
                None => true,
            })
            .filter(|(e, _)| names.as_ref().is_none_or(|n| n.contains(&e.name)))
            .collect();
        let (page, marker) = paginate(params, q)?;
        let mut list = Element::new("Parameters");
        for (e, user) in page {
            list.push(parameter_xml(e, user));
        }
        let mut out = vec![list];
        if let Some(m) = marker {
            out.push(Element::text_node("Marker", m));
        }
        Ok(xml::response(q.action(), Some(out)))
    }

    pub fn modify(&mut self, q: &Query) -> Result<(String, Change), RdsError> {
        let name = q.require("DBClusterParameterGroupName")?;
        let group = self.get_or_404(name)?;
        if group.is_default() {
            return Err(RdsError::invalid_value("Cannot modify a default parameter group."));
        }
        let name = group.name.clone();
        let members = q.members("Parameters");
        if members.is_empty() {
            return Err(RdsError::missing("Parameters"));
        }
        let edits = members
            .into_iter()
            .map(|m| Edit {
                name: m.get("ParameterName").cloned().unwrap_or_default(),
                value: m.get("ParameterValue").cloned(),
                apply_method: m.get("ApplyMethod").cloned().unwrap_or_default(),
            })
            .collect();
        let edits = self.validate_edits(&name, edits, false)?;
        let change = self.apply(&name, edits);
        let body = xml::response(q.action(), Some(vec![Element::text_node("DBClusterParameterGroupName", &name)]));
        Ok((body, change))
    }

    pub fn reset(&mut self, q: &Query) -> Result<(String, Change), RdsError> {
        let name = q.require("DBClusterParameterGroupName")?;
        let group = self.get_or_404(name)?;
        if group.is_default() {
            return Err(RdsError::invalid_value("Cannot modify a default parameter group."));
        }
        let name = group.name.clone();
        let all = q.flag("ResetAllParameters");
        let members = q.members("Parameters");
        if all != members.is_empty() {
            return Err(RdsError::invalid_combination(
                "Specify either ResetAllParameters or a list of Parameters, not both or neither.",
            ));
        }
        let edits: Vec<Edit> = if all {
            let group = &self.map[&name];
            group
                .values
                .keys()
                .map(|n| {
                    let static_ = catalog::lookup(&group.family, n).is_some_and(CatalogEntry::is_static);
                    let method = if static_ { "pending-reboot" } else { "immediate" };
                    Edit { name: n.clone(), value: None, apply_method: method.into() }
                })
                .collect()
        } else {
            let edits = members
                .into_iter()
                .map(|m| Edit {
                    name: m.get("ParameterName").cloned().unwrap_or_default(),
                    value: None,
                    apply_method: m.get("ApplyMethod").cloned().unwrap_or_default(),
                })
                .collect();
            self.validate_edits(&name, edits, true)?
        };
        let change = self.apply(&name, edits);
        let body = xml::response(q.action(), Some(vec![Element::text_node("DBClusterParameterGroupName", &name)]));
        Ok((body, change))
    }

    /// The RDS rules for a batch of edits, checked before anything is applied (a rejected call changes
    /// nothing): at most 20, known names, modifiable, a valid apply method (`immediate` only for dynamic
    /// parameters), and a value within `AllowedValues`.
    fn validate_edits(&self, group: &str, edits: Vec<Edit>, reset: bool) -> Result<Vec<Edit>, RdsError> {
        if edits.len() > MAX_PARAMETERS_PER_CALL {
            return Err(RdsError::invalid_value(format!(
                "The number of parameters in one request ({}) exceeds the maximum of {MAX_PARAMETERS_PER_CALL}.",
                edits.len()
            )));
        }
        let family = &self.map[group].family;
        for edit in &edits {
            let entry = catalog::lookup(family, &edit.name)
                .ok_or_else(|| RdsError::invalid_value(format!("Could not find parameter with name: {}", edit.name)))?;
            if !entry.modifiable {
                return Err(RdsError::invalid_value(format!("The parameter {} cannot be modified.", edit.name)));
            }
            match edit.apply_method.as_str() {
                "pending-reboot" => {}
                "immediate" if entry.is_static() => {
                    return Err(RdsError::invalid_combination(
                        "cannot use immediate apply method for static parameter",
                    ));
                }
                "immediate" => {}
                "" => {
                    return Err(RdsError::invalid_value(format!(
                        "An apply method must be specified for parameter: {}",
                        edit.name
                    )));
                }
                other => {
                    return Err(RdsError::invalid_value(format!(
                        "Invalid apply method {other} for parameter: {}. Valid values are immediate, pending-reboot",
                        edit.name
                    )));
                }
            }
            if reset {
                continue;
            }
            let Some(value) = edit.value.as_deref() else {
                return Err(RdsError::invalid_value(format!("A value must be specified for parameter: {}", edit.name)));
            };
            if !catalog::value_allowed(entry, value) {
                return Err(RdsError::invalid_value(format!(
                    "Invalid parameter value: {value} for: {} allowed values are: {}",
                    edit.name,
                    entry.allowed_values.as_deref().unwrap_or("")
                )));
            }
        }
        Ok(edits)
    }

    fn apply(&mut self, group: &str, edits: Vec<Edit>) -> Change {
        let g = self.map.get_mut(group).expect("validated group");
        let mut change = Change { group: g.name.clone(), needs_reboot: false, applied_now: Vec::new() };
        for edit in edits {
            let static_ = catalog::lookup(&g.family, &edit.name).is_some_and(CatalogEntry::is_static);
            if static_ || edit.apply_method == "pending-reboot" {
                change.needs_reboot = true;
            } else {
                change.applied_now.push(edit.name.clone());
            }
            match edit.value {
                Some(value) => {
                    g.values.insert(edit.name, UserValue { value, apply_method: edit.apply_method });
                }
                None => {
                    g.values.remove(&edit.name);
                }
            }
        }
        change
    }

    pub fn engine_defaults(q: &Query) -> Result<String, RdsError> {
        let family = q.require("DBParameterGroupFamily")?;
        let params = catalog::family_parameters(family).ok_or_else(|| {
            RdsError::invalid_value(format!("DBParameterGroupFamily {family} is not a valid parameter group family."))
        })?;
        let (page, marker) = paginate(params, q)?;
        let mut defaults = Element::new("EngineDefaults");
        defaults.push(Element::text_node("DBParameterGroupFamily", family));
        defaults.push_opt("Marker", marker.as_deref());
        let mut list = Element::new("Parameters");
        for e in page {
            list.push(parameter_xml(e, None));
        }
        defaults.push(list);
        Ok(xml::response(q.action(), Some(vec![defaults])))
    }

    /// Synthesised `DescribeDBEngineVersions` for aurora-postgresql (moto answers HTTP 500): the listed
    /// versions, plus any other minor of a known major asked for by `EngineVersion`.
    pub fn engine_versions(q: &Query) -> Result<String, RdsError> {
        let engine = q.get("Engine");
        let mut versions: Vec<String> = catalog::ENGINE_VERSIONS.iter().map(|v| v.to_string()).collect();
        if let Some(v) = q.get("EngineVersion") {
            versions.retain(|x| x == v);
            if versions.is_empty() && catalog::family_for(v).is_some() {
                versions.push(v.to_string());
            }
        }
        if let Some(f) = q.get("DBParameterGroupFamily") {
            versions.retain(|v| catalog::family_for(v).as_deref() == Some(f));
        }
        if q.flag("DefaultOnly") {
            versions.retain(|v| v == catalog::DEFAULT_ENGINE_VERSION);
        }
        if engine.is_some_and(|e| e != catalog::ENGINE) {
            versions.clear();
        }
        let (page, marker) = paginate(versions, q)?;
        let mut list = Element::new("DBEngineVersions");
        for v in page {
            let family = catalog::family_for(&v).expect("listed versions have a family");
            let mut e = Element::new("DBEngineVersion");
            e.push(Element::text_node("Engine", catalog::ENGINE));
            e.push(Element::text_node("MajorEngineVersion", v.split('.').next().unwrap_or_default()));
            e.push(Element::text_node("EngineVersion", &v));
            e.push(Element::text_node("DBParameterGroupFamily", family));
            e.push(Element::text_node("DBEngineDescription", "Aurora (PostgreSQL)"));
            e.push(Element::text_node(
                "DBEngineVersionDescription",
                format!("Aurora PostgreSQL (Compatible with PostgreSQL {v})"),
            ));
            e.push(Element::text_node("Status", "available"));
            list.push(e);
        }
        let mut out = vec![list];
        if let Some(m) = marker {
            out.push(Element::text_node("Marker", m));
        }
        Ok(xml::response(q.action(), Some(out)))
    }

    /// The group named by a `…:cluster-pg:<name>` ARN, for the tagging actions.
    pub fn by_arn_mut(&mut self, arn: &str) -> Result<&mut Group, RdsError> {
        let name = arn.rsplit_once(":cluster-pg:").map_or(arn, |(_, n)| n).to_ascii_lowercase();
        self.map.get_mut(&name).ok_or_else(|| RdsError::group_not_found(&name))
    }

    pub fn tags(&mut self, q: &Query) -> Result<String, RdsError> {
        let group = self.by_arn_mut(q.require("ResourceName")?)?;
        match q.action() {
            "AddTagsToResource" => {
                for (k, v) in q.tags() {
                    group.tags.retain(|(key, _)| key != &k);
                    group.tags.push((k, v));
                }
                Ok(xml::response(q.action(), None))
            }
            "RemoveTagsFromResource" => {
                // A list of strings: `TagKeys.member.N=key`.
                let keys: Vec<String> =
                    q.pairs().iter().filter(|(k, _)| k.starts_with("TagKeys.")).map(|(_, v)| v.clone()).collect();
                group.tags.retain(|(k, _)| !keys.contains(k));
                Ok(xml::response(q.action(), None))
            }
            _ => {
                let mut list = Element::new("TagList");
                for (k, v) in &group.tags {
                    let mut t = Element::new("Tag");
                    t.push(Element::text_node("Key", k));
                    t.push(Element::text_node("Value", v));
                    list.push(t);
                }
                Ok(xml::response(q.action(), Some(vec![list])))
            }
        }
    }
}

/// The `parameter-name` filter of DescribeDBClusterParameters ("the only supported filter").
fn name_filter(q: &Query) -> Result<Option<Vec<String>>, RdsError> {
    let mut names: Option<Vec<String>> = None;
    for f in q.members("Filters") {
        let filter = f.get("Name").map(String::as_str).unwrap_or("");
        if filter != "parameter-name" {
            return Err(RdsError::invalid_value(format!(
                "Unrecognized filter name: {filter}. The only supported filter is parameter-name."
            )));
        }
        let values = Query::list_in(&f, "Values");
        names = Some(match names {
            // Several filters narrow each other.
            Some(prev) => prev.into_iter().filter(|n| values.contains(n)).collect(),
            None => values,
        });
    }
    Ok(names)
}
