package io.hapticmat.app.data

import io.hapticmat.app.BuildConfig

/**
 * Where models come from: the production bucket's URL, and whom to trust — the pinned public keys of the
 * signer, or the pinned offline root key ([rootKey], version [rootVersion]) whose signed key set names them.
 */
data class ModelStore(
    val baseUrl: String,
    val publicKeys: List<String>,
    val rootKey: String? = null,
    val rootVersion: Long = 1,
) {
    /** Whether this build trusts any signer at all. */
    val hasTrust: Boolean get() = publicKeys.isNotEmpty() || rootKey != null

    /** Whether this build was given a store at all. */
    val isConfigured: Boolean get() = baseUrl.isNotBlank() && hasTrust

    /** Built from this build's configuration. */
    companion object {
        /**
         * The store baked into this build from the Gradle properties `hapticmat.modelStoreUrl`,
         * `hapticmat.modelPublicKeys`, `hapticmat.modelRootKey` and `hapticmat.modelRootVersion`
         * (android-app/gradle.properties or `-P`); public values, no secret.
         */
        fun fromBuildConfig() = ModelStore(
            baseUrl = BuildConfig.MODEL_STORE_URL,
            publicKeys = BuildConfig.MODEL_PUBLIC_KEYS.split(',').map(String::trim).filter(String::isNotEmpty),
            rootKey = BuildConfig.MODEL_ROOT_KEY.trim().ifEmpty { null },
            rootVersion = BuildConfig.MODEL_ROOT_VERSION,
        )
    }
}
