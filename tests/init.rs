//! `migprep init` against the stand-ins: it finds the cluster's master user and databases (connecting
//! with `SOURCE_PGPASSWORD`) and the server's admin login, writes a commented spec holding secrets only as
//! `{ env = … }` references and the subscription's tenant, refuses to overwrite it, and `plan` runs with the file as written.
//!
//! As in Azure, the flexible server listens on 5432 at the FQDN ARM reports: here a loopback address of
//! the scenario's own, which the stand-ins' certificate names. The spec init writes names no target host
//! (it defaults to the FQDN), so `plan` reaches both databases with it as written: no blocker.

mod common;

use common::{migprep, parse_plan, text};
use migprep_testkit::scenario::{CLUSTER, REGION, RESOURCE_GROUP, SERVER, SUBSCRIPTION, Scenario};

#[tokio::test]
async fn init_writes_a_commented_spec_without_secrets_that_plan_runs_unchanged() {
    let scenario = Scenario::start().await.unwrap();
    let _at_its_fqdn = scenario.serve_target_at_its_fqdn().await.unwrap();
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("migprep.toml");
    let ca = scenario.dir().join("ca.pem");
    let arm = scenario.arm.endpoint();
    let (source_password, target_password) =
        (scenario.source.admin().password.clone(), scenario.target.admin().password.clone());
    let env = [
        ("MIGPREP_ARM_ENDPOINT", arm.as_str()),
        ("AZURE_AUTHORITY_HOST", arm.as_str()),
        ("SOURCE_PGPASSWORD", source_password.as_str()),
        ("TARGET_PGPASSWORD", target_password.as_str()),
    ];
    let args = [
        "init",
        "--cluster",
        CLUSTER,
        "--region",
        REGION,
        "--server",
        SERVER,
        "--resource-group",
        RESOURCE_GROUP,
        "--subscription",
        SUBSCRIPTION,
        "--ca-file",
        text(&ca),
        "--out",
        text(&out),
    ];
    let init = migprep(&scenario, &args, &env).await;
    assert_eq!(init.code, 0, "{}", init.stderr);
    let spec = std::fs::read_to_string(&out).unwrap();
    for database in scenario.source.databases() {
        assert!(spec.contains(&format!("\"{database}\"")), "{database} is listed:\n{spec}");
    }
    assert!(spec.contains(&format!("user = \"{}\"", scenario.source.admin().user)), "{spec}");
    let login = common::server(&scenario, SERVER)["properties"]["administratorLogin"].as_str().unwrap().to_string();
    assert!(spec.contains(&format!("user = \"{login}\"")), "the server's admin login:\n{spec}");
    assert!(spec.contains("password = { env = \"SOURCE_PGPASSWORD\" }"), "{spec}");
    let tenant = scenario.arm.tenant_id().to_string();
    assert!(spec.contains(&format!("tenant = \"{tenant}\"")), "the subscription's tenant is pinned:\n{spec}");
    assert!(!spec.contains(&source_password) && !spec.contains(&target_password), "no secret is written");
    assert!(spec.lines().filter(|l| l.starts_with('#')).count() > 10, "commented:\n{spec}");

    let again = migprep(&scenario, &args, &env).await;
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains("never overwrites"), "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), spec, "the file is untouched");

    assert!(!spec.lines().any(|l| l.starts_with("host") || l.starts_with("port")), "no address is written:\n{spec}");

    let plan = migprep(&scenario, &["plan", text(&out), "--format", "json", "--detailed-exitcode"], &env).await;
    assert!([0, 2].contains(&plan.code), "plan runs with the spec as written, no blocker:\n{}", plan.stderr);
    let plan = parse_plan(&plan.stdout);
    assert_eq!(plan["name"], CLUSTER);
    let changes = plan["changes"].as_array().unwrap();
    assert!(changes.iter().all(|c| c["action"] != "blocker"), "{changes:#?}");
    assert!(changes.iter().any(|c| c["address"].as_str().unwrap().starts_with("aws.")));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), spec, "the spec needed no edit");
}
