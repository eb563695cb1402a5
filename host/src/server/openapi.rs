//! The parts of the OpenAPI document that no handler states: title, version, auth scheme.
//! The paths and schemas come from the handlers' `#[utoipa::path]` annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};

/// The document before the routes are added.
pub fn base() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Solomon API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Monitor Bitcoin solo miners. Mutating routes need `Authorization: Bearer <token>`; \
                     errors are `{\"error\": {\"code\", \"message\"}}`.",
                ))
                .build(),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    "bearer",
                    SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
                )
                .build(),
        ))
        .build()
}
