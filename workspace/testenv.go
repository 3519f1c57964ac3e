package workspace

import (
	"context"
	"errors"
	"fmt"

	"github.com/forge-ml/forge/internal/errkind"
	"github.com/forge-ml/forge/store"
)

// TestEnvOptions are the inputs of TestEnv.
type TestEnvOptions struct {
	// Project is the environment the tests run against.
	Project string
	// Name is the test environment's name; "" is Project + "-test".
	Name string
	// Specs are installed into the test environment's LOCAL layer (pytest
	// and the like), as forge install takes them.
	Specs      []string
	WithoutPip bool // when the test environment is created
	Policy     string
	LinkMode   string
	GPU        string
}

// TestEnvReport is what TestEnv did.
type TestEnvReport struct {
	Env     string `json:"env"`
	Project string `json:"project"`
	Path    string `json:"path"`
	Python  string `json:"python_version"`
	// Created: the test environment did not exist before this call.
	Created bool           `json:"created"`
	Install *InstallReport `json:"install,omitempty"`
}

// TestEnv makes (or reuses) a test environment: a child of the project
// environment whose LOCAL layer holds the test tools. The project's own
// layer never holds them, so installing into, upgrading or uninstalling
// from the project leaves the test tools in place, and the test
// environment sees the project's packages as they are now (a parent layer
// is a path line, read at every start-up). An existing environment of that
// name is reused only if it is a child of the project (else store.ErrExists).
// A failed install leaves the created environment in place: running again
// retries the install.
func (w *Workspace) TestEnv(ctx context.Context, o TestEnvOptions) (*TestEnvReport, error) {
	name := o.Name
	if name == "" {
		name = o.Project + "-test"
	}
	if name == o.Project {
		return nil, errkind.With(fmt.Errorf("the test environment cannot be %s itself: give another --name", o.Project), ErrUsage)
	}
	project, err := w.Store.GetEnv(ctx, o.Project)
	if err != nil {
		return nil, err
	}
	rep := &TestEnvReport{Env: name, Project: project.Name}
	row, err := w.Store.GetEnv(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_, err = w.Create(ctx, CreateOptions{Name: name, Parent: project.Name, WithoutPip: o.WithoutPip})
		if err == nil {
			rep.Created = true
		} else if !errors.Is(err, store.ErrExists) {
			return nil, err
		}
		// Created now, or by another forge meanwhile: check it as found.
		if row, err = w.Store.GetEnv(ctx, name); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	if row.Parent != project.Name {
		parent := "no parent"
		if row.Parent != "" {
			parent = "parent " + row.Parent
		}
		return nil, errkind.With(fmt.Errorf("environment %s exists with %s, not as a test environment of %s: give another --name", name, parent, project.Name), store.ErrExists)
	}
	rep.Path, rep.Python = row.Path, row.PythonVersion
	if len(o.Specs) == 0 {
		return rep, nil
	}
	rep.Install, err = w.Install(ctx, InstallOptions{Env: name, Specs: o.Specs, Policy: o.Policy, LinkMode: o.LinkMode, GPU: o.GPU})
	return rep, err
}
