package io.hapticmat.presence

import io.hapticmat.core.HttpHeader
import io.hapticmat.core.StoreHttpBody
import io.hapticmat.core.StoreHttpClient
import io.hapticmat.core.StoreHttpException
import io.hapticmat.core.StoreHttpRequest
import io.hapticmat.core.StoreHttpResponse
import java.io.IOException
import java.io.InputStream
import java.net.HttpURLConnection
import java.net.MalformedURLException
import java.net.UnknownServiceException
import java.net.URL

/**
 * The HTTP client the core reads model stores through: `java.net.HttpURLConnection`, which on Android is
 * the platform's (TLS trusts the device's CA store and the app's network security config; the system's
 * proxy settings apply), and on a desktop JVM the JDK's. The core keeps every rule — timeouts (handed
 * down here), redirects (followed by the core, so never here), retries, ranges, size bounds, hashes and
 * signatures — this class only moves bytes. [ModelUpdates.open] uses it unless told otherwise.
 *
 * Called on the core's worker threads, never the main thread.
 */
class UrlConnectionStoreHttp : StoreHttpClient {
    override fun get(request: StoreHttpRequest): StoreHttpResponse {
        val connection = try {
            URL(request.url).openConnection() as? HttpURLConnection
                ?: throw StoreHttpException.Refused("${request.url.substringBefore(':')} is not an HTTP URL")
        } catch (e: MalformedURLException) {
            throw StoreHttpException.Refused(describe(e))
        } catch (e: IOException) {
            throw StoreHttpException.Network(describe(e))
        }
        try {
            connection.instanceFollowRedirects = false
            connection.useCaches = false
            connection.connectTimeout = request.connectTimeoutMs.toInt().coerceAtLeast(1)
            connection.readTimeout = request.readTimeoutMs.toInt().coerceAtLeast(1)
            for (header in request.headers) connection.setRequestProperty(header.name, header.value)
            val status = connection.responseCode
            if (status < 0) throw IOException("not a valid HTTP response")
            val headers = connection.headerFields.flatMap { (name, values) ->
                // The status line is listed under the null name.
                if (name == null) emptyList() else values.map { HttpHeader(name, it) }
            }
            // An error status carries its body on the error stream (null when there is none).
            val stream = if (status >= 400) connection.errorStream else connection.inputStream
            return StoreHttpResponse(status.toUShort(), headers, Body(connection, stream))
        } catch (e: UnknownServiceException) {
            // Android's network security config refusing plain HTTP ("CLEARTEXT communication to … not
            // permitted"): another try cannot help.
            connection.disconnect()
            throw StoreHttpException.Refused(describe(e))
        } catch (e: IOException) {
            connection.disconnect()
            throw StoreHttpException.Network(describe(e))
        } catch (e: RuntimeException) {
            // HttpURLConnection throws unchecked exceptions too (a malformed header, a security policy).
            connection.disconnect()
            throw StoreHttpException.Network(describe(e))
        }
    }

    private class Body(private val connection: HttpURLConnection, private val stream: InputStream?) : StoreHttpBody {
        override fun read(maxBytes: UInt): ByteArray {
            val input = stream ?: return ByteArray(0)
            val buffer = ByteArray(maxBytes.toInt().coerceIn(1, 1 shl 20))
            val n = try {
                input.read(buffer)
            } catch (e: IOException) {
                throw StoreHttpException.Network(describe(e))
            }
            return if (n <= 0) ByteArray(0) else buffer.copyOf(n)
        }

        override fun release() {
            try {
                stream?.close()
            } catch (_: IOException) {
                // Nothing to keep: the core is done with these bytes.
            }
            connection.disconnect()
        }
    }

    private companion object {
        /** The failure in words, without the URL (a presigned query would be a secret in a log). */
        fun describe(e: Exception): String = "${e.javaClass.simpleName}: ${e.message ?: "no detail"}"
    }
}
