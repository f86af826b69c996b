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
            .set_attribute_definitions(Some(
                [
                    vec![
                        build(
                            AttributeDefinition::builder()
                                .attribute_name(PK)
                                .attribute_type(ScalarAttributeType::S)
                                .build(),
                        )?,
                        build(
                            AttributeDefinition::builder()
                                .attribute_name(SK)
                                .attribute_type(ScalarAttributeType::S)
                                .build(),
                        )?,
                    ],
                    index_attributes(LIST_INDEX)?,
                    index_attributes(DUE_INDEX)?,
                ]
                .concat(),
            ))
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
            .global_secondary_indexes(build(
                GlobalSecondaryIndex::builder()
                    .index_name(LIST_INDEX)
                    .set_key_schema(Some(index_key_schema(LIST_INDEX)?))
                    .projection(keys_only())
                    .build(),
            )?)
            .global_secondary_indexes(build(
                GlobalSecondaryIndex::builder()
                    .index_name(DUE_INDEX)
                    .set_key_schema(Some(index_key_schema(DUE_INDEX)?))
                    .projection(keys_only())
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
            self.ensure_index(LIST_INDEX).await?;
            self.ensure_index(DUE_INDEX).await?;
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

    /// A table made before an index existed gets it (idempotent; in a stack
    /// the template creates both).
    async fn ensure_index(&self, index: &str) -> Result<(), StoreError> {
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
            .any(|g| g.index_name() == Some(index));
        if has {
            return Ok(());
        }
        let create = build(
            aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
                .index_name(index)
                .set_key_schema(Some(index_key_schema(index)?))
                .projection(keys_only())
                .build(),
        )?;
        self.client
            .update_table()
            .table_name(&self.table)
            .set_attribute_definitions(Some(index_attributes(index)?))
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

fn keys_only() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::KeysOnly)
        .build()
}

/// An index's key attributes: (hash, range), with their types.
fn index_keys(index: &str) -> [(&'static str, ScalarAttributeType); 2] {
    if index == DUE_INDEX {
        [(DPK, ScalarAttributeType::S), (DUE, ScalarAttributeType::N)]
    } else {
        [(LPK, ScalarAttributeType::S), (LSK, ScalarAttributeType::S)]
    }
}

fn index_attributes(index: &str) -> Result<Vec<AttributeDefinition>, StoreError> {
    index_keys(index)
        .into_iter()
        .map(|(name, t)| {
            build(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(t)
                    .build(),
            )
        })
        .collect()
}

/// The `list` index's key is `lpk` (hash), `lsk` (range); the `due` index's
/// `dpk` (hash), `due` (range).
fn index_key_schema(index: &str) -> Result<Vec<KeySchemaElement>, StoreError> {
    let [(hash, _), (range, _)] = index_keys(index);
    Ok(vec![
        build(
            KeySchemaElement::builder()
                .attribute_name(hash)
                .key_type(KeyType::Hash)
                .build(),
        )?,
        build(
            KeySchemaElement::builder()
                .attribute_name(range)
                .key_type(KeyType::Range)
                .build(),
        )?,
    ])
}
