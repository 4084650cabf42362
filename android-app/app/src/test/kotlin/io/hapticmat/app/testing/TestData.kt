package io.hapticmat.app.testing

import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.domain.ModelInfo
import io.hapticmat.app.domain.PresenceLabel
import io.hapticmat.app.domain.PresenceReading
import io.hapticmat.app.domain.PressureFrame
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.test.TestScope
import kotlinx.coroutines.test.UnconfinedTestDispatcher
import java.time.ZoneOffset
import kotlin.time.Duration

/** Tests show times in UTC so expected strings do not depend on the machine. */
val TestZone: ZoneOffset = ZoneOffset.UTC

/** 2026-11-24 14:03:12 UTC, a fixed wall-clock time for readings and outcomes. */
const val T0 = 1_795_528_992_000L

/** The mat a test pairs. */
val TestMat = DiscoveredMat(id = "E4:5F:01:AA:BB:CC", name = "HapticMat-0042", rssi = -58)

/** A model as installed by the delivery core. */
val TestModel = ModelInfo(
    name = "presence-cnn",
    version = "1.2.0",
    sequence = 7,
    sha256 = "3f5a9c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a",
    sourceRunId = "a1b2c3d4e5f60718",
    installedAtMillis = T0 - 86_400_000,
    lastCheckAtMillis = T0 - 3_600_000,
)

/** A decided reading; with someone on the mat the posture is sure ([postureConfidence] 0.9) unless said. */
fun reading(
    label: PresenceLabel?,
    confidence: Float = 0.93f,
    at: Long = T0,
    latency: Duration? = null,
    postureConfidence: Float? = if (label?.isPresent == true) 0.9f else null,
) = PresenceReading(label, confidence, at, latency, postureConfidence)

/** A frame of an empty mat (≈98.2 kPa per bladder, docs/design.md §2) plus [extra] pascal on every bladder. */
fun frame(at: Long, extra: Float = 0f) =
    PressureFrame(at, listOf(98_180f + extra, 98_190f + extra, 98_200f + extra, 98_170f + extra))

/**
 * A scope for the state holders that runs launched work eagerly on the test's scheduler (so virtual
 * time drives every delay) and is cancelled with the test's background work.
 */
fun TestScope.holderScope(): CoroutineScope =
    CoroutineScope(backgroundScope.coroutineContext + UnconfinedTestDispatcher(testScheduler))
