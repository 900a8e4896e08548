//! The migration service's resource, `…/flexibleServers/{server}/migrations/{name}`: check a name, list
//! the active migrations, create one, read it, cancel it. A migration is not a long-running operation:
//! PUT answers 200/201 at once and the migration's own `currentStatus` is what moves, so the caller polls
//! [`Arm::migration`]. The create body carries the passwords (`secretParameters`); it is built here,
//! sent, and never logged. The same body with placeholders instead of the passwords is what
//! [`properties_file`] writes for `az postgres flexible-server migration create --properties`.

use serde::Deserialize;

use super::transport::{Busy, Call, decode};
use super::*;
use crate::model::migration::{
    DatabaseValidation, Migration, MigrationRequest, MigrationState, NameAvailability, Validation, ValidationItem,
    ValidationMessage, ValidationState,
};

/// What the properties file holds instead of the passwords.
pub const SOURCE_PASSWORD_PLACEHOLDER: &str = "<source server password of the migration user>";
pub const TARGET_PASSWORD_PLACEHOLDER: &str = "<target server password>";

impl Arm {
    /// `POST …/checkMigrationNameAvailability`.
    pub async fn migration_name_availability(
        &self,
        server: &ServerId,
        name: &str,
    ) -> Result<NameAvailability, AzureError> {
        let resource = format!("migration name {name} on {server}");
        let call = Call { operation: "check the name of", resource: &resource };
        let body = json!({ "name": name, "type": "Microsoft.DBforPostgreSQL/flexibleServers/migrations" });
        let answer = self
            .send(Method::POST, self.server_url(server, &["checkMigrationNameAvailability"]), Some(&body), &call)
            .await?;
        let raw: RawNameAvailability = decode(&answer.body, &resource)?;
        Ok(NameAvailability { available: raw.name_available, reason: raw.reason, message: raw.message })
    }

    /// The migrations that are still active on the server (`migrationListFilter=Active`), every page. The
    /// service's filter is not trusted alone: migrations in a final state are dropped here too.
    pub async fn active_migrations(&self, server: &ServerId) -> Result<Vec<Migration>, AzureError> {
        let resource = format!("migrations of {server}");
        let call = Call { operation: "list", resource: &resource };
        let mut url = self.server_url(server, &["migrations"]);
        url.query_pairs_mut().append_pair("migrationListFilter", "Active");
        let raw: Vec<RawMigration> = self.list(url, &call).await?;
        Ok(raw.into_iter().map(RawMigration::into_migration).filter(|m| m.state.is_active()).collect())
    }

    /// `PUT …/migrations/{name}`: creates the migration and returns it as the service first reports it.
    pub async fn create_migration(
        &self,
        server: &ServerId,
        name: &str,
        request: &MigrationRequest,
    ) -> Result<Migration, AzureError> {
        let resource = migration_resource(server, name);
        let call = Call { operation: "create", resource: &resource };
        let body = body(request, Passwords::Real);
        // A 409 here is the service refusing a second active migration, not a busy server: fail at once.
        let url = self.server_url(server, &["migrations", name]);
        let answer = self.send_with(Method::PUT, url, Some(&body), &call, Busy::Fail).await?;
        let raw: RawMigration = decode(&answer.body, &resource)?;
        Ok(raw.into_migration())
    }

    /// `GET …/migrations/{name}`.
    pub async fn migration(&self, server: &ServerId, name: &str) -> Result<Migration, AzureError> {
        let resource = migration_resource(server, name);
        let call = Call { operation: "get", resource: &resource };
        let raw: RawMigration = self.get_json(self.server_url(server, &["migrations", name]), &call).await?;
        Ok(raw.into_migration())
    }

    /// `DELETE …/migrations/{name}`: cancels an active migration.
    pub async fn cancel_migration(&self, server: &ServerId, name: &str) -> Result<(), AzureError> {
        let resource = migration_resource(server, name);
        let call = Call { operation: "cancel", resource: &resource };
        self.send(Method::DELETE, self.server_url(server, &["migrations", name]), None, &call).await.map(|_| ())
    }
}

/// How a migration is named in messages: `migration NAME on SERVER`.
pub fn migration_resource(server: &ServerId, name: &str) -> String {
    format!("migration {name} on {server}")
}

/// The body for `az postgres flexible-server migration create --properties FILE`: `{"properties": …}`
/// with the request's values and placeholders where the passwords go. Pretty JSON with a final newline.
pub fn properties_file(request: &MigrationRequest) -> String {
    let body = body(request, Passwords::Placeholders);
    let file = json!({ "properties": body["properties"] });
    let mut text = serde_json::to_string_pretty(&file).expect("a JSON value always serializes");
    text.push('\n');
    text
}

enum Passwords {
    Real,
    Placeholders,
}

/// The `Migration` body of a create request (official shape: a tracked resource with `location`).
fn body(request: &MigrationRequest, passwords: Passwords) -> Value {
    let (source_password, target_password) = match passwords {
        Passwords::Real => (request.source_password.expose(), request.target_password.expose()),
        Passwords::Placeholders => (SOURCE_PASSWORD_PLACEHOLDER, TARGET_PASSWORD_PLACEHOLDER),
    };
    let mut properties = json!({
        "migrationMode": request.mode.as_str(),
        "migrationOption": request.option.as_str(),
        "sourceType": request.source_type,
        "sourceDbServerResourceId": request.source_server,
        "sslMode": request.ssl_mode.as_str(),
        "dbsToMigrate": request.databases,
        "secretParameters": {
            "adminCredentials": {
                "sourceServerPassword": source_password,
                "targetServerPassword": target_password,
            },
            "sourceServerUsername": request.source_user,
            "targetServerUsername": request.target_user,
        },
    });
    if let Some(runtime) = &request.runtime_server {
        properties["migrationInstanceResourceId"] = json!(runtime);
    }
    json!({ "location": request.location, "properties": properties })
}

// -- wire ---------------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawNameAvailability {
    name_available: bool,
    reason: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMigration {
    id: String,
    name: String,
    properties: RawMigrationProperties,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawMigrationProperties {
    current_status: RawStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawStatus {
    state: String,
    error: Option<String>,
    current_sub_state_details: RawSubState,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawSubState {
    current_sub_state: Option<String>,
    validation_details: Option<RawValidation>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawValidation {
    status: Option<String>,
    server_level_validation_details: Vec<RawItem>,
    db_level_validation_details: Vec<RawDatabase>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawDatabase {
    database_name: String,
    summary: Vec<RawItem>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawItem {
    #[serde(rename = "type")]
    kind: String,
    state: String,
    messages: Vec<RawMessage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMessage {
    state: String,
    message: String,
}

impl RawItem {
    fn into_item(self) -> ValidationItem {
        ValidationItem {
            kind: self.kind,
            state: ValidationState::parse(&self.state),
            messages: self
                .messages
                .into_iter()
                .map(|m| ValidationMessage { state: ValidationState::parse(&m.state), text: m.message })
                .collect(),
        }
    }
}

impl RawMigration {
    fn into_migration(self) -> Migration {
        let status = self.properties.current_status;
        let details = status.current_sub_state_details;
        Migration {
            id: self.id,
            name: self.name,
            state: MigrationState::parse(&status.state),
            sub_state: details.current_sub_state,
            error: status.error.filter(|e| !e.is_empty()),
            validation: details.validation_details.map(|v| Validation {
                status: v.status.as_deref().map(ValidationState::parse),
                server: v.server_level_validation_details.into_iter().map(RawItem::into_item).collect(),
                databases: v
                    .db_level_validation_details
                    .into_iter()
                    .map(|d| DatabaseValidation {
                        name: d.database_name,
                        items: d.summary.into_iter().map(RawItem::into_item).collect(),
                    })
                    .collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::migration::{MigrationMode, MigrationOption, MigrationSslMode};
    use crate::secret::Secret;

    fn request() -> MigrationRequest {
        MigrationRequest {
            location: "eastus".into(),
            mode: MigrationMode::Online,
            option: MigrationOption::Validate,
            source_type: "AWS_AURORA".into(),
            source_server: "orders.cluster-abc.us-east-1.rds.amazonaws.com:5432@migrator".into(),
            ssl_mode: MigrationSslMode::VerifyFull,
            databases: vec!["orders".into(), "billing".into()],
            runtime_server: None,
            source_user: "migrator".into(),
            target_user: "azureadmin".into(),
            source_password: Secret::new("s3cr3t-source"),
            target_password: Secret::new("s3cr3t-target"),
        }
    }

    #[test]
    fn the_properties_file_has_placeholders_instead_of_passwords() {
        let text = properties_file(&request());
        assert!(!text.contains("s3cr3t"), "{text}");
        let file: Value = serde_json::from_str(&text).unwrap();
        let credentials = &file["properties"]["secretParameters"]["adminCredentials"];
        assert_eq!(credentials["sourceServerPassword"], SOURCE_PASSWORD_PLACEHOLDER);
        assert_eq!(file["properties"]["sourceType"], "AWS_AURORA");
        assert!(file.get("location").is_none(), "the az CLI takes the location from the server");
    }

    #[test]
    fn the_create_body_is_a_tracked_resource_with_the_runtime_server_when_given() {
        let mut request = request();
        assert!(body(&request, Passwords::Real)["properties"].get("migrationInstanceResourceId").is_none());
        request.runtime_server =
            Some("/subscriptions/x/resourceGroups/g/providers/Microsoft.DBforPostgreSQL/flexibleServers/rt".into());
        let body = body(&request, Passwords::Real);
        assert_eq!(body["location"], "eastus");
        assert_eq!(body["properties"]["migrationOption"], "Validate");
        assert_eq!(body["properties"]["secretParameters"]["adminCredentials"]["targetServerPassword"], "s3cr3t-target");
        assert!(body["properties"]["migrationInstanceResourceId"].as_str().unwrap().ends_with("/rt"));
    }

    #[test]
    fn a_migration_with_validation_details_reads_into_the_model() {
        let raw = json!({
            "id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.DBforPostgreSQL/flexibleServers/pg/migrations/m1",
            "name": "m1",
            "properties": { "currentStatus": { "state": "ValidationFailed", "currentSubStateDetails": {
                "currentSubState": "Completed",
                "validationDetails": {
                    "status": "Failed",
                    "serverLevelValidationDetails": [ { "type": "ServerParametersValidation", "state": "Failed",
                        "messages": [ { "state": "Failed", "message": "Error 603107: wal_level" } ] } ],
                    "dbLevelValidationDetails": [ { "databaseName": "orders", "summary": [
                        { "type": "ExtensionsValidation", "state": "Succeeded", "messages": [] } ] } ]
                } } } }
        });
        let migration = serde_json::from_value::<RawMigration>(raw).unwrap().into_migration();
        assert_eq!(migration.state, MigrationState::ValidationFailed);
        assert_eq!(migration.sub_state.as_deref(), Some("Completed"));
        let validation = migration.validation.unwrap();
        assert_eq!(validation.server[0].messages[0].text, "Error 603107: wal_level");
        assert_eq!(validation.databases[0].name, "orders");
        assert_eq!(validation.databases[0].items[0].state, ValidationState::Succeeded);
    }
}
