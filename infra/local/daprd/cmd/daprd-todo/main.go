// Command daprd-todo is daprd with only the components the Todo system uses.
//
// Dapr's stock daprd registers ~150 components through build tags; compiling
// them all takes a long time on a 2-core machine. This program registers the
// handful we need into Dapr's default registries and then hands over to Dapr's
// own entry point, so every flag and behaviour of daprd is unchanged.
//
// Registered (type as written in a Component's spec.type):
//   - pubsub.kafka, pubsub.in-memory
//   - state.redis, state.postgresql (v1, v2), state.in-memory
//   - bindings.cron (input)
//   - secretstores.local.env, secretstores.local.file
//   - nameresolution.sqlite (loopback-only service discovery, replaces mDNS)
//
// It must be built with the overlay written by infra/local/stack, which makes
// github.com/dapr/dapr/cmd/daprd/components an empty package.
package main

import (
	"github.com/dapr/components-contrib/bindings/cron"
	sqliteresolver "github.com/dapr/components-contrib/nameresolution/sqlite"
	"github.com/dapr/components-contrib/pubsub/kafka"
	pubsubmem "github.com/dapr/components-contrib/pubsub/in-memory"
	envsecrets "github.com/dapr/components-contrib/secretstores/local/env"
	filesecrets "github.com/dapr/components-contrib/secretstores/local/file"
	statemem "github.com/dapr/components-contrib/state/in-memory"
	pgv1 "github.com/dapr/components-contrib/state/postgresql/v1"
	pgv2 "github.com/dapr/components-contrib/state/postgresql/v2"
	"github.com/dapr/components-contrib/state/redis"

	"github.com/dapr/dapr/cmd/daprd/app"
	"github.com/dapr/dapr/pkg/components"
	bindingsreg "github.com/dapr/dapr/pkg/components/bindings"
	nrreg "github.com/dapr/dapr/pkg/components/nameresolution"
	pubsubreg "github.com/dapr/dapr/pkg/components/pubsub"
	secretsreg "github.com/dapr/dapr/pkg/components/secretstores"
	statereg "github.com/dapr/dapr/pkg/components/state"
)

func init() {
	pubsubreg.DefaultRegistry.RegisterComponent(kafka.NewKafka, "kafka")
	pubsubreg.DefaultRegistry.RegisterComponent(pubsubmem.New, "in-memory")

	statereg.DefaultRegistry.RegisterComponent(redis.NewRedisStateStore, "redis")
	statereg.DefaultRegistry.RegisterComponent(statemem.NewInMemoryStateStore, "in-memory")
	// Same versioning as upstream: v1 is what "version: v1" selects, v2 is
	// preferred when the spec says "version: v2".
	statereg.DefaultRegistry.RegisterComponentWithVersions("postgresql", components.Versioning{
		Preferred: components.VersionConstructor{Version: "v2", Constructor: pgv2.NewPostgreSQLStateStore},
		Others:    []components.VersionConstructor{{Version: "v1", Constructor: pgv1.NewPostgreSQLStateStore}},
		Default:   "v1",
	})

	bindingsreg.DefaultRegistry.RegisterInputBinding(cron.NewCron, "cron")

	secretsreg.DefaultRegistry.RegisterComponent(envsecrets.NewEnvSecretStore, "local.env")
	secretsreg.DefaultRegistry.RegisterComponent(filesecrets.NewLocalSecretStore, "local.file")

	nrreg.DefaultRegistry.RegisterComponent(sqliteresolver.NewResolver, "sqlite")
}

func main() {
	app.Run()
}
