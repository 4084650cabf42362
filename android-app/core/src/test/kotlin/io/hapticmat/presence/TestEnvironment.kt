package io.hapticmat.presence

import java.io.File
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.delay
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.io.TempDir

/**
 * What the tests need from outside the JVM, passed by android-app/core/pom.xml's surefire configuration
 * (scripts/test-kotlin.sh prepares each): the host cdylib (`jna.library.path`), ONNX Runtime, a model,
 * the real recordings and the pipeline binary.
 */
object TestEnvironment {
    init {
        System.getProperty("hapticmat.ortLibrary")?.let { HapticMat.setOnnxRuntimeLibrary(it) }
    }

    /** An int8 presence model (`pipeline run` output). */
    val model: File get() = file("hapticmat.model")

    /** The real recordings of the mat, kept in the repository (`data/seroton-mat`). */
    val recordings: File get() = file("hapticmat.recordings")

    /** The recording of the empty mat. */
    val emptyMat: File get() = File(recordings, "empty_or_cat_on_mat.csv").also(::requireFile)

    /** The recording of a person on the mat. */
    val personOnMat: File get() = File(recordings, "human_on_mat.csv").also(::requireFile)

    /** The `pipeline` binary (keygen, publish). */
    val pipeline: File get() = file("hapticmat.pipeline")

    private fun file(property: String): File {
        val path = System.getProperty(property)
            ?: error("system property $property is not set: run the tests through scripts/test-kotlin.sh")
        return File(path).also(::requireFile)
    }

    private fun requireFile(f: File) =
        check(f.exists()) { "${f.path} does not exist: run the tests through scripts/test-kotlin.sh" }
}

/** Polls [condition] until it holds, failing after [timeout]. */
suspend fun eventually(timeout: Duration = 10.seconds, condition: () -> Boolean) {
    withTimeout(timeout) {
        while (!condition()) delay(5)
    }
}

/** Runs the pipeline binary, failing with its output when it fails. */
fun pipeline(vararg args: String): String {
    val process = ProcessBuilder(listOf(TestEnvironment.pipeline.path) + args).redirectErrorStream(true).start()
    val output = process.inputStream.bufferedReader().readText()
    check(process.waitFor() == 0) { "pipeline ${args.joinToString(" ")} failed:\n$output" }
    return output
}

/**
 * Tests against a store laid out by `pipeline publish` in `dir/store` before each test (sequence 1, version
 * 1.0.0, run id `kotlin-test-run`), signed by a key made for it in `dir/signing.key`; [publicKey] is the key
 * an app would pin.
 */
abstract class PublishedStoreTest {
    @TempDir
    lateinit var dir: File

    protected lateinit var store: File
    protected lateinit var publicKey: String

    @BeforeEach
    fun publish() {
        val key = File(dir, "signing.key")
        pipeline("keygen", "--out", key.path)
        store = File(dir, "store")
        pipeline(
            "publish", "--model", TestEnvironment.model.path, "--key", key.path, "--store", store.path,
            "--sequence", "1", "--version", "1.0.0", "--expires-in", "30", "--run-id", "kotlin-test-run",
        )
        publicKey = File(dir, "signing.key.pub").readText()
    }
}
