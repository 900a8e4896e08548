//! moto_server on its own, with no fidelity layer in front: the second RDS backend of the end-to-end
//! suite, for checking that migprep holds up against an RDS API that is faithful only in part — filters
//! ignored, custom groups that start empty, no `DescribeEngineDefaultClusterParameters`, members always
//! `in-sync`, reboots that restart nothing, cluster endpoints that lead nowhere.
//!
//! This module only *arranges* the "before" state through moto's own API, as an account would have it:
//! the family's `default.<family>` group listing the catalog's parameters with their `Source`,
//! `ApplyType` and values (moto has no default groups and stores whatever fields a modify sends), the
//! cluster on it, custom groups with user values. What moto does not do when migprep runs is left
//! undone; the tests do it by hand, as a DBA would, through [`Plain::complete_reboot`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use super::catalog::{self, CatalogEntry};
use super::{ClusterSeed, GroupSeed, SettingsHook, proxy, xml};

/// moto's answers to `DescribeDBClusterParameters`: name → (value, `Source` if it reports one).
pub(crate) type Listing = BTreeMap<String, (Option<String>, Option<String>)>;

pub(crate) struct Plain {
    url: String,
    region: String,
    http: reqwest::Client,
    /// Each cluster's reboot hook, run by [`Plain::complete_reboot`].
    reboot_hooks: Mutex<BTreeMap<String, SettingsHook>>,
}

impl Plain {
    pub fn new(url: String, region: String, http: reqwest::Client) -> Self {
        Plain { url, region, http, reboot_hooks: Mutex::new(BTreeMap::new()) }
    }

    /// One Query-protocol call to moto; its XML answer, or an error with moto's code and message.
    async fn call(&self, fields: &[(String, String)]) -> Result<xml::Element> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Version", "2014-10-31");
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        let resp = self
            .http
            .post(&self.url)
            .header("authorization", proxy::auth_header(&self.region))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.finish())
            .send()
            .await?;
        let status = resp.status();
        let body = resp.text().await?;
        if !status.is_success() {
            let doc = xml::parse(&body).ok();
            let text = |name: &str| doc.as_ref().and_then(|d| d.descendants(name).first().map(|e| e.text()));
            bail!(
                "moto answered HTTP {status}: {}: {}",
                text("Code").unwrap_or_default(),
                text("Message").unwrap_or(body)
            );
        }
        xml::parse(&body)
    }

    /// Creates the family's `default.<family>` group, listing every catalog parameter as RDS does, unless
    /// it exists.
    async fn default_group(&self, family: &str) -> Result<String> {
        let name = catalog::default_group_name(family);
        if self.parameters(&name).await?.is_some() {
            return Ok(name);
        }
        let entries = catalog::family_parameters(family).with_context(|| format!("no catalog for family {family}"))?;
        self.call(&fields(&[
            ("Action", "CreateDBClusterParameterGroup"),
            ("DBClusterParameterGroupName", &name),
            ("DBParameterGroupFamily", family),
            ("Description", &format!("Default cluster parameter group for {family}")),
        ]))
        .await?;
        let mut modify = fields(&[("Action", "ModifyDBClusterParameterGroup"), ("DBClusterParameterGroupName", &name)]);
        for (i, entry) in entries.iter().enumerate() {
            modify.extend(listed(i + 1, entry));
        }
        self.call(&modify).await.with_context(|| format!("listing the parameters of {name}"))?;
        Ok(name)
    }

    /// Creates the cluster on its family's default group (created first; moto would name a group that does
    /// not exist) unless the seed names one, and its writer and readers. Its endpoint stays moto's.
    pub async fn seed_cluster(&self, seed: &ClusterSeed) -> Result<()> {
        let group = match &seed.parameter_group {
            Some(group) => group.clone(),
            None => {
                let family = catalog::family_for(&seed.engine_version)
                    .with_context(|| format!("no family for engine version {}", seed.engine_version))?;
                self.default_group(&family).await?
            }
        };
        if let Some(hook) = &seed.reboot_hook {
            self.reboot_hooks.lock().unwrap().insert(seed.id.clone(), hook.clone());
        }
        self.call(&fields(&[
            ("Action", "CreateDBCluster"),
            ("DBClusterIdentifier", &seed.id),
            ("Engine", catalog::ENGINE),
            ("EngineVersion", &seed.engine_version),
            ("MasterUsername", &seed.master_username),
            ("MasterUserPassword", "stand-in-password"),
            ("DBClusterParameterGroupName", &group),
        ]))
        .await
        .with_context(|| format!("seeding cluster {}", seed.id))?;
        for instance in std::iter::once(&seed.writer).chain(&seed.readers) {
            self.call(&fields(&[
                ("Action", "CreateDBInstance"),
                ("DBInstanceIdentifier", instance),
                ("DBClusterIdentifier", &seed.id),
                ("Engine", catalog::ENGINE),
                ("DBInstanceClass", &seed.instance_class),
                ("PubliclyAccessible", &seed.publicly_accessible.to_string()),
            ]))
            .await
            .with_context(|| format!("seeding instance {instance}"))?;
        }
        Ok(())
    }

    /// Creates a custom group and sets its values with one modify, as a user would on moto (which then
    /// lists only those, without a `Source`).
    pub async fn seed_parameter_group(&self, seed: &GroupSeed) -> Result<()> {
        self.call(&fields(&[
            ("Action", "CreateDBClusterParameterGroup"),
            ("DBClusterParameterGroupName", &seed.name),
            ("DBParameterGroupFamily", &seed.family),
            ("Description", &seed.description),
        ]))
        .await
        .with_context(|| format!("seeding parameter group {}", seed.name))?;
        if seed.values.is_empty() {
            return Ok(());
        }
        let mut modify =
            fields(&[("Action", "ModifyDBClusterParameterGroup"), ("DBClusterParameterGroupName", &seed.name)]);
        for (i, (name, value)) in seed.values.iter().enumerate() {
            let prefix = format!("Parameters.Parameter.{}.", i + 1);
            modify.push((format!("{prefix}ParameterName"), name.clone()));
            modify.push((format!("{prefix}ParameterValue"), value.clone()));
            modify.push((format!("{prefix}ApplyMethod"), "pending-reboot".into()));
        }
        self.call(&modify).await.with_context(|| format!("setting the values of {}", seed.name))?;
        Ok(())
    }

    /// What moto lists for a group, or `None` if there is no group of that name.
    pub async fn parameters(&self, group: &str) -> Result<Option<Listing>> {
        let answer = self
            .call(&fields(&[("Action", "DescribeDBClusterParameters"), ("DBClusterParameterGroupName", group)]))
            .await;
        let doc = match answer {
            Ok(doc) => doc,
            Err(e) if format!("{e:#}").contains("NotFound") => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(
            doc.descendants("Parameter")
                .into_iter()
                .filter_map(|p| {
                    Some((p.child_text("ParameterName")?, (p.child_text("ParameterValue"), p.child_text("Source"))))
                })
                .collect(),
        ))
    }

    /// Every group's name.
    pub async fn group_names(&self) -> Result<Vec<String>> {
        let doc = self.call(&fields(&[("Action", "DescribeDBClusterParameterGroups")])).await?;
        Ok(doc.descendants("DBClusterParameterGroupName").into_iter().map(|e| e.text()).collect())
    }

    /// The group a cluster has, as moto reports it.
    pub async fn cluster_group(&self, cluster: &str) -> Result<String> {
        let doc = self.call(&fields(&[("Action", "DescribeDBClusters"), ("DBClusterIdentifier", cluster)])).await?;
        doc.descendants("DBClusterParameterGroup")
            .first()
            .map(|e| e.text())
            .with_context(|| format!("moto reports no parameter group for cluster {cluster}"))
    }

    /// What RDS does on a writer reboot and moto does not: restarts the source PostgreSQL (the cluster's
    /// reboot hook) with the `postgresql.conf` values of the group the cluster has — its listing over the
    /// family's engine defaults.
    pub async fn complete_reboot(&self, cluster: &str, family: &str) -> Result<()> {
        let hook = self.reboot_hooks.lock().unwrap().get(cluster).cloned();
        let Some(hook) = hook else { bail!("cluster {cluster} was seeded without a reboot hook") };
        let group = self.cluster_group(cluster).await?;
        let listing = self.parameters(&group).await?.with_context(|| format!("no group {group}"))?;
        let mut effective: BTreeMap<String, Option<String>> = catalog::family_parameters(family)
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        for (name, (value, _)) in listing {
            effective.insert(name, value);
        }
        hook(catalog::postgres_settings(&effective, None)).await
    }
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The form fields listing one catalog parameter at position `i` of a modify, with everything RDS reports.
fn listed(i: usize, entry: &CatalogEntry) -> Vec<(String, String)> {
    let prefix = format!("Parameters.Parameter.{i}.");
    let mut out = vec![
        ("ParameterName", entry.name.clone()),
        ("Description", entry.description.clone()),
        ("Source", entry.source.clone()),
        ("ApplyType", entry.apply_type.clone()),
        ("DataType", entry.data_type.clone()),
        ("IsModifiable", entry.modifiable.to_string()),
        ("ApplyMethod", "pending-reboot".to_string()),
    ];
    if let Some(value) = &entry.value {
        out.push(("ParameterValue", value.clone()));
    }
    if let Some(allowed) = &entry.allowed_values {
        out.push(("AllowedValues", allowed.clone()));
    }
    out.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)).collect()
}
