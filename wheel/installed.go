package wheel

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Installer is what forge writes into an installed .dist-info's INSTALLER.
const Installer = "forge"

// installerFiles are the files of an installed .dist-info that the
// installer writes, not the wheel: INSTALLER and REQUESTED (PEP 376), and
// RECORD, which lists what this installation placed; the wheel's RECORD
// signatures sign the wheel's RECORD, not that one.
var installerFiles = map[string]bool{"RECORD": true, "INSTALLER": true, "REQUESTED": true, "RECORD.jws": true, "RECORD.p7s": true}

// IsInstallerFile reports whether name, a top-level file of a .dist-info,
// is one the installer writes itself (INSTALLER, REQUESTED, RECORD) or one
// that does not survive installation (RECORD's signatures): a wheel's own
// copies of them are not installed.
func IsInstallerFile(name string) bool { return installerFiles[name] }

// DistInfoOptions say how InstallDistInfo makes an installed .dist-info.
type DistInfoOptions struct {
	// Place installs the wheel's own top-level item src (a file or a
	// directory, d) at dst: a hard link, a symlink, a copy, as the caller
	// installs files.
	Place func(src, dst string, d fs.DirEntry) error
	// Requested writes REQUESTED: the project was asked for by name, not
	// installed as a dependency (PEP 376).
	Requested bool
	// Record is the installed RECORD's content; nil when the caller writes
	// RECORD itself, once the installation is complete.
	Record []byte
	// Perm is the mode of the files InstallDistInfo writes.
	Perm fs.FileMode
}

// InstallDistInfo makes dst, an existing empty directory, the installed form
// of the wheel's .dist-info directory src: every top-level item of src but
// the installer's files (IsInstallerFile), in name order, through o.Place;
// then INSTALLER, REQUESTED when requested, and RECORD when o gives it. It
// stops at the first error and leaves what it made to the caller to remove.
func InstallDistInfo(src, dst string, o DistInfoOptions) error {
	items, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, d := range items {
		if IsInstallerFile(d.Name()) {
			continue
		}
		if err := o.Place(filepath.Join(src, d.Name()), filepath.Join(dst, d.Name()), d); err != nil {
			return err
		}
	}
	own := []struct {
		name string
		data []byte
		want bool
	}{
		{"INSTALLER", []byte(Installer + "\n"), true},
		{"REQUESTED", nil, o.Requested},
		{"RECORD", o.Record, o.Record != nil},
	}
	for _, f := range own {
		if !f.want {
			continue
		}
		if err := os.WriteFile(filepath.Join(dst, f.name), f.data, o.Perm); err != nil {
			return err
		}
	}
	return nil
}
