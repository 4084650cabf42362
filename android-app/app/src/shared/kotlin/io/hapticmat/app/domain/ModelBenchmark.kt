package io.hapticmat.app.domain

/**
 * One model's benchmark on this phone, through the core (the same code the host tests run): [model]
 * names the file ("int8 · installed"), the rest are the core's figures.
 */
data class ModelBenchmark(
    val model: String,
    val sizeBytes: Long,
    val loadMs: Double,
    val p50Us: Double,
    val p99Us: Double,
    val throughputPerS: Double,
    val memoryBytes: Long?,
)
