// Runs once Jenkins has started (init.groovy.d hooks run after configuration as code has loaded casc.yaml
// and stored its credentials, encrypted, in JENKINS_HOME). The plain-text files hm-jenkins-entrypoint.sh
// wrote for casc.yaml are not needed any more: delete them, so that nothing on the controller can read them
// later. Jenkins stops starting if one cannot be deleted. A configuration reload needs a container restart,
// which writes them again from the environment compose passes.
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths

String dir = System.getenv('SECRETS')
if (!dir) {
    throw new IllegalStateException('SECRETS (the configuration-as-code secrets folder) is not set')
}
Path secrets = Paths.get(dir)
if (Files.isDirectory(secrets)) {
    Files.list(secrets).withCloseable { files ->
        files.each { Path file -> Files.delete(file) }
    }
}
println("hm-jenkins: removed the configuration-as-code secret files from ${dir}")
