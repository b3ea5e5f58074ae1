; Inno Setup script for Deploy Studio: Start-menu entry, optional PATH entry, file associations.
; packaging/build.py passes every name and the version with /D (one source of truth: the package).
; By hand: iscc /DAppName="Deploy Studio" /DAppVersion=X.Y.Z /DAppId=... /DSourceDir=dist\dstudio ... deploy_studio.iss

#ifndef AppVersion
  #error AppVersion is not defined: build with python packaging/build.py
#endif
#ifndef AppName
  #define AppName "Deploy Studio"
#endif
#ifndef AppId
  #define AppId "org.deploystudio.deploystudio"
#endif
#ifndef AppPublisher
  #define AppPublisher AppName
#endif
#ifndef AppURL
  #define AppURL ""
#endif
#ifndef ExeName
  #define ExeName "dstudiow.exe"
#endif
#ifndef CliName
  #define CliName "dstudio.exe"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\dstudio"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist\installers"
#endif
#ifndef OutputBaseFilename
  #define OutputBaseFilename "deploy-studio-" + AppVersion + "-windows-setup"
#endif
#ifndef ProgId
  #define ProgId "deploystudio"
#endif

[Setup]
AppId={#AppId}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppPublisher}
#if AppURL != ""
AppPublisherURL={#AppURL}
AppSupportURL={#AppURL}
#endif
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
OutputDir={#OutputDir}
OutputBaseFilename={#OutputBaseFilename}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ChangesAssociations=yes
ChangesEnvironment=yes
UninstallDisplayIcon={app}\{#ExeName}
#ifdef IconFile
#if IconFile != ""
SetupIconFile={#IconFile}
#endif
#endif

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the dstudio command line to PATH"; GroupDescription: "Command line:"; Flags: unchecked
Name: "assoc"; Description: "Open .mindir, .onnx and .ckpt files with {#AppName}"; GroupDescription: "File associations:"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#ExeName}"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#ExeName}"; Tasks: desktopicon

[Registry]
; File associations (per user or per machine, following the install mode), one ProgID per type.
Root: HKA; Subkey: "Software\Classes\.mindir\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}.mindir"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\{#ProgId}.mindir"; ValueType: string; ValueName: ""; ValueData: "MindSpore MindIR model"; Flags: uninsdeletekey; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\{#ProgId}.mindir\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#ExeName},0"; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\{#ProgId}.mindir\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#ExeName}"" ""%1"""; Tasks: assoc

Root: HKA; Subkey: "Software\Classes\.onnx\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}.onnx"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\{#ProgId}.onnx"; ValueType: string; ValueName: ""; ValueData: "ONNX model"; Flags: uninsdeletekey; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\{#ProgId}.onnx\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#ExeName},0"; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\{#ProgId}.onnx\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#ExeName}"" ""%1"""; Tasks: assoc

Root: HKA; Subkey: "Software\Classes\.ckpt\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}.ckpt"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\{#ProgId}.ckpt"; ValueType: string; ValueName: ""; ValueData: "MindSpore checkpoint"; Flags: uninsdeletekey; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\{#ProgId}.ckpt\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#ExeName},0"; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\{#ProgId}.ckpt\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#ExeName}"" ""%1"""; Tasks: assoc

; "Open with" lists the app for these types even when another program is the default.
Root: HKA; Subkey: "Software\Classes\Applications\{#ExeName}\SupportedTypes"; ValueType: string; ValueName: ".mindir"; ValueData: ""; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\{#ExeName}\SupportedTypes"; ValueType: string; ValueName: ".onnx"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\{#ExeName}\SupportedTypes"; ValueType: string; ValueName: ".ckpt"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\{#ExeName}"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "{#AppName}"

[Run]
Filename: "{app}\{#ExeName}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[Code]
// Adds the install folder to the user's or the machine's PATH when the task is chosen; removes it on uninstall.
function EnvKeyRoot(): Integer;
begin
  if IsAdminInstallMode then Result := HKEY_LOCAL_MACHINE else Result := HKEY_CURRENT_USER;
end;

function EnvKey(): String;
begin
  if IsAdminInstallMode then
    Result := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
  else
    Result := 'Environment';
end;

procedure EditPath(const Dir: String; Add: Boolean);
var
  Paths: String;
  P: Integer;
begin
  if not RegQueryStringValue(EnvKeyRoot(), EnvKey(), 'Path', Paths) then Paths := '';
  P := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';');
  if Add and (P = 0) then begin
    if (Paths <> '') and (Copy(Paths, Length(Paths), 1) <> ';') then Paths := Paths + ';';
    RegWriteExpandStringValue(EnvKeyRoot(), EnvKey(), 'Path', Paths + Dir);
  end else if (not Add) and (P > 0) then begin
    Delete(Paths, P, Length(Dir) + 1);
    if (Length(Paths) > 0) and (Copy(Paths, Length(Paths), 1) = ';') then Delete(Paths, Length(Paths), 1);
    RegWriteExpandStringValue(EnvKeyRoot(), EnvKey(), 'Path', Paths);
  end;
end;

procedure CurStepChanged(CurStep: TSetupStep);
begin
  if (CurStep = ssPostInstall) and WizardIsTaskSelected('addtopath') then EditPath(ExpandConstant('{app}'), True);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then EditPath(ExpandConstant('{app}'), False);
end;
