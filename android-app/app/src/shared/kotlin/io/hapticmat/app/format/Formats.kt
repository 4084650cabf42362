package io.hapticmat.app.format

import java.time.Instant
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import java.util.Locale
import kotlin.math.roundToInt
import kotlin.time.Duration
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.minutes

/** Display text for the values the screens show; one place so every screen writes them alike. */
object Formats {
    private val clock = DateTimeFormatter.ofPattern("HH:mm:ss", Locale.ROOT)
    private val dateTime = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm", Locale.ROOT)

    /** Time of day with seconds, for the freshness of live readings ("14:03:12"). */
    fun clockTime(millis: Long, zone: ZoneId): String = clock.format(Instant.ofEpochMilli(millis).atZone(zone))

    /** Date and time to the minute, for installs and checks ("2026-11-24 14:03"). */
    fun dateTime(millis: Long, zone: ZoneId): String = dateTime.format(Instant.ofEpochMilli(millis).atZone(zone))

    /** A timeout in the units a person picks it in: "45 s", "10 min", "1 h", "1 h 30 min". */
    fun timeout(d: Duration): String {
        val hours = d.inWholeHours
        val minutes = (d - hours.hours).inWholeMinutes
        return when {
            d < 1.minutes -> "${d.inWholeSeconds} s"
            hours == 0L -> "$minutes min"
            minutes == 0L -> "$hours h"
            else -> "$hours h $minutes min"
        }
    }

    /** One inference's latency; sub-millisecond values keep two decimals because that is the usual range. */
    fun latency(d: Duration): String {
        val ms = d.inWholeNanoseconds / 1_000_000.0
        return if (ms < 10) String.format(Locale.ROOT, "%.2f ms", ms) else String.format(Locale.ROOT, "%.0f ms", ms)
    }

    /** A byte count in decimal units ("840 kB", "1.2 MB"). */
    fun bytes(n: Long): String = when {
        n < 1_000 -> "$n B"
        n < 1_000_000 -> String.format(Locale.ROOT, "%.0f kB", n / 1_000.0)
        else -> String.format(Locale.ROOT, "%.1f MB", n / 1_000_000.0)
    }

    /** A probability 0..1 as a whole percentage ("93 %"). */
    fun percent(p: Float): String = "${(p.coerceIn(0f, 1f) * 100).roundToInt()} %"

    /** The first 12 hex digits of a SHA-256: enough to tell builds apart at a glance. */
    fun shortSha(sha256: String): String = sha256.take(12)
}
