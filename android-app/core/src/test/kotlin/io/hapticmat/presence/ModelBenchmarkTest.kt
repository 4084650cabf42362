package io.hapticmat.presence

import io.hapticmat.core.HapticMatException
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Test

/**
 * The Model screen's benchmark through the real library and ONNX Runtime: the fp32 and the int8 model
 * the pipeline made for these tests, side by side (the same call the app makes on a phone).
 */
class ModelBenchmarkTest {
    init {
        TestEnvironment // sets ONNX Runtime's library
    }

    private val int8 = TestEnvironment.model
    private val fp32 = File(int8.parentFile, "model.fp32.onnx")

    @Test
    fun `fp32 and int8 are measured side by side with their real sizes`() = runBlocking<Unit> {
        val a = HapticMat.benchmarkModel(fp32, iterations = 500)
        val b = HapticMat.benchmarkModel(int8, iterations = 500)

        assertFalse(a.quantized, "the fp32 model")
        assertTrue(b.quantized, "the int8 model")
        assertEquals(fp32.length(), a.sizeBytes.toLong())
        assertEquals(int8.length(), b.sizeBytes.toLong())
        assertTrue(b.sizeBytes < a.sizeBytes, "int8 is smaller: ${b.sizeBytes} vs ${a.sizeBytes}")
        for (m in listOf(a, b)) {
            assertEquals(500u, m.iterations)
            assertTrue(m.p50Us > 0 && m.p50Us <= m.p99Us, "p50 ${m.p50Us} ≤ p99 ${m.p99Us}")
            assertTrue(m.throughputPerS > 0 && m.loadMs > 0, "$m")
            assertNotNull(m.memoryBytes, "Linux reports resident memory")
        }
    }

    @Test
    fun `a missing model is an invalid-model error and a silly count is refused`() = runBlocking<Unit> {
        assertFailsWith<HapticMatException.InvalidModel> { HapticMat.benchmarkModel(File(int8.parentFile, "nope.onnx"), 10) }
        assertFailsWith<IllegalArgumentException> { HapticMat.benchmarkModel(int8, 0) }
    }
}
