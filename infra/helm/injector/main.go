// Command dapr-injector runs Dapr's sidecar injector, the code of the dapr-sidecar-injector image
// (github.com/dapr/dapr/pkg/injector/service, the same module and version as daprd), as the
// mutating admission webhook of a kube-apiserver, for infra/helm/validate. It differs from
// cmd/injector only in where its serving certificate comes from: files given here instead of
// Dapr's Sentry, which needs a running cluster. The pod patch, the annotations it reads and the
// daprd container it adds are Dapr's own.
//
// The injector listens on all interfaces of the network namespace it runs in (Dapr hard-codes
// ":port"); infra/helm/validate runs it in a network namespace of its own.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	scheme "github.com/dapr/dapr/pkg/client/clientset/versioned"
	"github.com/dapr/dapr/pkg/healthz"
	"github.com/dapr/dapr/pkg/injector/service"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server")
	port := flag.Int("port", 4000, "webhook port")
	certFile := flag.String("tls-cert", "", "serving certificate (PEM)")
	keyFile := flag.String("tls-key", "", "its key (PEM)")
	anchorsFile := flag.String("trust-anchors", "", "the trust anchors the sidecars get (PEM)")
	trustDomain := flag.String("trust-domain", "cluster.local", "the control plane's trust domain")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := service.InitMetrics(); err != nil {
		log.Fatalf("metrics: %v", err)
	}
	// SIDECAR_IMAGE, NAMESPACE (the control plane's), ... as the injector's Deployment sets them.
	cfg, err := service.GetConfig()
	if err != nil {
		log.Fatalf("config: %v", err)
	}
	rest, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("kubeconfig: %v", err)
	}
	kube, err := kubernetes.NewForConfig(rest)
	if err != nil {
		log.Fatalf("kube client: %v", err)
	}
	dapr, err := scheme.NewForConfig(rest)
	if err != nil {
		log.Fatalf("dapr client: %v", err)
	}
	uids, err := service.AllowedControllersServiceAccountUID(ctx, cfg, kube)
	if err != nil {
		log.Fatalf("allowed service accounts: %v", err)
	}
	inj, err := service.NewInjector(service.Options{
		Port:                    *port,
		AuthUIDs:                uids,
		Config:                  cfg,
		DaprClient:              dapr,
		KubeClient:              kube,
		ControlPlaneNamespace:   cfg.Namespace,
		ControlPlaneTrustDomain: *trustDomain,
		Healthz:                 healthz.New(),
		SchedulerEnabled:        true,
	})
	if err != nil {
		log.Fatalf("injector: %v", err)
	}
	pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("serving certificate: %v", err)
	}
	anchors, err := os.ReadFile(*anchorsFile)
	if err != nil {
		log.Fatalf("trust anchors: %v", err)
	}
	sentry, err := spiffeid.FromSegments(spiffeid.RequireTrustDomainFromString(*trustDomain), "ns", cfg.Namespace, "dapr-sentry")
	if err != nil {
		log.Fatalf("sentry id: %v", err)
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if err := inj.Run(ctx, tlsConfig, sentry, func(context.Context) ([]byte, error) { return anchors, nil }); err != nil {
		log.Fatalf("injector: %v", err)
	}
}
