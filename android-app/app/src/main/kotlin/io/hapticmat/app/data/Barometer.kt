package io.hapticmat.app.data

import android.content.Context
import android.hardware.Sensor
import android.hardware.SensorEvent
import android.hardware.SensorEventListener
import android.hardware.SensorManager

/**
 * The phone's barometer, fed to the core while a session runs: while someone lies on the mat the core's
 * baseline then follows the weather the barometer measures instead of a trend (docs/long-sessions.md).
 * Phones without one simply give nothing, and the core keeps its trend. Readings are passed on at most
 * once a second; the sensor is asked for its slowest rate and batched, which costs next to no power.
 *
 * Written to the platform's conventions; not compiled here (no Android SDK on the build machine).
 */
internal class Barometer(context: Context, private val onReading: (hectopascal: Float) -> Unit) {
    private val sensors = context.getSystemService(Context.SENSOR_SERVICE) as SensorManager?
    private val sensor: Sensor? = sensors?.getDefaultSensor(Sensor.TYPE_PRESSURE)
    private var lastNanos = 0L

    private val listener = object : SensorEventListener {
        override fun onSensorChanged(event: SensorEvent) {
            if (event.timestamp - lastNanos < 1_000_000_000L) return
            lastNanos = event.timestamp
            onReading(event.values[0])
        }

        override fun onAccuracyChanged(sensor: Sensor, accuracy: Int) = Unit
    }

    /** Whether this phone has a barometer. */
    val present: Boolean get() = sensor != null

    fun start() {
        val s = sensor ?: return
        sensors?.registerListener(listener, s, SensorManager.SENSOR_DELAY_NORMAL, MAX_BATCH_MICROS)
    }

    fun stop() {
        sensors?.unregisterListener(listener)
    }

    private companion object {
        /** Let the sensor hub batch readings for up to 10 s: the weather moves far slower. */
        const val MAX_BATCH_MICROS = 10_000_000
    }
}
