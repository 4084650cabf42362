package io.hapticmat.app.live

import io.hapticmat.app.domain.PressureFrame
import io.hapticmat.app.testing.frame
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class PressureHistoryTest {
    @Test
    fun `only the newest frames up to the capacity are kept`() {
        var history = PressureHistory(emptyList(), capacity = 3)
        for (t in 1L..5L) history += frame(t)

        assertEquals(listOf(3L, 4L, 5L), history.frames.map { it.timestampMillis })
    }

    @Test
    fun `an empty mat is drawn on at least the minimum span so noise stays flat`() {
        val history = PressureHistory.EMPTY + frame(1) + frame(2, extra = 0.5f)
        val range = history.range()!!

        assertEquals(PressureHistory.MIN_SPAN_PA, range.endInclusive - range.start, 0.01f)
        // Centred on the data: 98 170 … 98 200.5 Pa.
        assertEquals((98_170f + 98_200.5f) / 2, (range.start + range.endInclusive) / 2, 0.01f)
    }

    @Test
    fun `a person's load widens the range to the data`() {
        val history = PressureHistory.EMPTY + frame(1) + frame(2, extra = 1_500f)
        val range = history.range()!!

        assertEquals(98_170f, range.start)
        assertEquals(99_700f, range.endInclusive)
    }

    @Test
    fun `no frames, no range`() {
        assertNull(PressureHistory.EMPTY.range())
    }

    @Test
    fun `a frame must carry four bladders`() {
        assertThrows<IllegalArgumentException> { PressureFrame(0, listOf(1f, 2f, 3f)) }
    }
}
