package io.hapticmat.app.format

import io.hapticmat.app.testing.T0
import io.hapticmat.app.testing.TestZone
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.microseconds
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

class FormatsTest {
    @Test
    fun `timeouts read in the unit a person picks them in`() {
        assertEquals("45 s", Formats.timeout(45.seconds))
        assertEquals("10 min", Formats.timeout(10.minutes))
        assertEquals("1 h", Formats.timeout(1.hours))
        assertEquals("1 h 30 min", Formats.timeout(90.minutes))
    }

    @Test
    fun `sub-millisecond latencies keep two decimals`() {
        assertEquals("0.42 ms", Formats.latency(420.microseconds))
        assertEquals("6.50 ms", Formats.latency(6_500.microseconds))
        assertEquals("120 ms", Formats.latency(120.milliseconds))
    }

    @Test
    fun `times are shown in the given zone`() {
        assertEquals("14:03:12", Formats.clockTime(T0, TestZone))
        assertEquals("2026-11-24 14:03", Formats.dateTime(T0, TestZone))
    }

    @Test
    fun `percentages round and clamp`() {
        assertEquals("93 %", Formats.percent(0.929f))
        assertEquals("100 %", Formats.percent(1.2f))
        assertEquals("0 %", Formats.percent(-0.1f))
    }

    @Test
    fun `byte counts use decimal units`() {
        assertEquals("512 B", Formats.bytes(512))
        assertEquals("840 kB", Formats.bytes(840_000))
        assertEquals("1.2 MB", Formats.bytes(1_200_000))
    }
}
