//! The table itself: created (on-demand, TTL on) if missing.

use super::*;
use aws_sdk_dynamodb::types::{GlobalSecondaryIndex, Projection, ProjectionType};

impl Db {
    // ---- table -------------------------------------------------------------

    /// Creates the table (on-demand, TTL on `ttl`) if it is missing. Idempotent.
    pub async fn create_table(&self) -> Result<bool, StoreError> {
        let created = match self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(build(
                AttributeDefinition::builder()
                    .attribute_name(PK)
                    .attribute_type(ScalarAttributeType::S)
                    .build(),
            )?)
            .attribute_definitions(build(
                AttributeDefinition::builder()
                    .attribute_name(SK)
                    .attribute_type(ScalarAttributeType::S)
                    .build(),
            )?)
            .key_schema(build(
                KeySchemaElement::builder()
                    .attribute_name(PK)
                    .key_type(KeyType::Hash)
                    .build(),
            )?)
            .key_schema(build(
                KeySchemaElement::builder()
                    .attribute_name(SK)
                    .key_type(KeyType::Range)
                    .build(),
            )?)
            .attribute_definitions(listing_attribute(LPK)?)
            .attribute_definitions(listing_attribute(LSK)?)
            .global_secondary_indexes(build(
                GlobalSecondaryIndex::builder()
                    .index_name(LIST_INDEX)
                    .set_key_schema(Some(listing_key_schema()?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::KeysOnly)
                            .build(),
                    )
                    .build(),
            )?)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_resource_in_use_exception() => false,
                _ => return Err(backend(e)),
            },
        };
        if !created {
            self.ensure_listing_index().await?;
        }
        let ttl_on = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(backend)?
            .time_to_live_description()
            .and_then(|d| d.attribute_name())
            .is_some_and(|a| a == TTL);
        if !ttl_on {
            self.client
                .update_time_to_live()
                .table_name(&self.table)
                .time_to_live_specification(build(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(TTL)
                        .build(),
                )?)
                .send()
                .await
                .map_err(backend)?;
        }
        Ok(created)
    }

    /// A table made before the listing index existed gets it (idempotent).
    async fn ensure_listing_index(&self) -> Result<(), StoreError> {
        let table = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(backend)?;
        let has = table
            .table()
            .map(|t| t.global_secondary_indexes())
            .unwrap_or_default()
            .iter()
            .any(|g| g.index_name() == Some(LIST_INDEX));
        if has {
            return Ok(());
        }
        let create = build(
            aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
                .index_name(LIST_INDEX)
                .set_key_schema(Some(listing_key_schema()?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build(),
        )?;
        self.client
            .update_table()
            .table_name(&self.table)
            .attribute_definitions(listing_attribute(LPK)?)
            .attribute_definitions(listing_attribute(LSK)?)
            .global_secondary_index_updates(
                aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                    .create(create)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

/// An S attribute of the listing index's key.
fn listing_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    build(
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build(),
    )
}

/// The listing index's key: `lpk` (hash), `lsk` (range).
fn listing_key_schema() -> Result<Vec<KeySchemaElement>, StoreError> {
    Ok(vec![
        build(
            KeySchemaElement::builder()
                .attribute_name(LPK)
                .key_type(KeyType::Hash)
                .build(),
        )?,
        build(
            KeySchemaElement::builder()
                .attribute_name(LSK)
                .key_type(KeyType::Range)
                .build(),
        )?,
    ])
}
