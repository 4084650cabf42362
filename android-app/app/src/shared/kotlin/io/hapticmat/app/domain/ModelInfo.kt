package io.hapticmat.app.domain

/**
 * The presence model the core runs now, from its verified manifest (docs/design.md §5).
 *
 * [sequence] grows with every promotion; [sha256] is the hex digest of the installed file; [sourceRunId]
 * the MLflow run it was trained in; [installedAtMillis] when this phone installed it; [lastCheckAtMillis]
 * when the phone last asked the server for a newer one (null: never).
 */
data class ModelInfo(
    val name: String,
    val version: String,
    val sequence: Long,
    val sha256: String,
    val sourceRunId: String,
    val installedAtMillis: Long?,
    val lastCheckAtMillis: Long?,
)
